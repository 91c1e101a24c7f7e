"""Signals, dead workers and broken pipes, in real `dice` processes.

Each run starts in a session of its own; after it ends, /proc must show no process left in
that session (no orphaned worker holding stdout, so `$(dice ...)` returns).
"""

import json
import os
import signal
import subprocess
import time

import pytest
from click.testing import CliRunner
from run_helpers import catches, children, dice_cmd, finish, nifti_cases, popen, session_members, wait_until

from dicecli.cli import main
from dicecli.errors import ExitStatus

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

PREVIOUS = "previous contents\n"


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """60 3D cases: about a second of work on two workers."""
    return nifti_cases(tmp_path_factory.mktemp("signals"), 60)


def _left_over(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith((".tmp", ".old"))]


def _assert_clean_end(proc, stderr: bytes, status: int) -> None:
    text = stderr.decode(errors="replace")
    assert proc.returncode == status, text
    assert "Traceback" not in text and "Aborted" not in text, text
    assert wait_until(lambda: not session_members(proc.pid), timeout=10), \
        f"processes left behind: {session_members(proc.pid)}"


def _started(proc) -> None:
    """Wait until dice's own code handles SIGTERM (Python itself does not): dice's first line ran.
    Before that, Python's start-up is not dice's to handle. (A dice that never catches SIGTERM
    gets a second, then is signalled anyway.)"""
    wait_until(lambda: catches(proc.pid, signal.SIGTERM) or proc.poll() is not None, timeout=1.0)


def _signal(proc, signum: int, *, group: bool = True) -> None:
    try:
        os.killpg(proc.pid, signum) if group else os.kill(proc.pid, signum)
    except ProcessLookupError:  # already finished
        pass


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.08, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_at_any_moment_exits_cleanly(cases, tmp_path, delay, signum):
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.json").write_text(PREVIOUS)
    (out / "r.csv").write_text(PREVIOUS)
    proc = popen("score", *cases, "-j", "2", "--json", out / "r.json", "--csv", out / "r.csv")
    _started(proc)
    time.sleep(delay)
    _signal(proc, signum)  # as a terminal's Ctrl-C does: the whole process group
    _, stderr = finish(proc)
    if proc.returncode == 0:  # finished before the signal: nothing to check but the outputs
        assert json.loads((out / "r.json").read_text())["cases"]
        return
    _assert_clean_end(proc, stderr, 128 + signum)
    last = stderr.decode().strip().splitlines()[-1]
    assert last.startswith("dice: interrupted")
    assert not _left_over(out)
    _outputs_match_message(out, last)


def _numpy_loaded(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return "_multiarray_umath" in maps.read()
    except OSError:
        return False


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.02, 0.04, 0.08])
def test_ctrl_c_while_options_are_parsed_is_not_aborted(cases, delay):
    """numpy loads while click parses the options (their callbacks import it): a Ctrl-C there
    once gave click's "Aborted!" and exit 1, the gate-failure status."""
    proc = popen("score", *cases, "-j", "2")
    assert wait_until(lambda: _numpy_loaded(proc.pid) or proc.poll() is not None, timeout=30)
    time.sleep(delay)
    _signal(proc, signal.SIGINT)
    _, stderr = finish(proc)
    _assert_clean_end(proc, stderr, 130)
    assert stderr.decode().strip().splitlines()[-1] == "dice: interrupted: nothing was written"


def _outputs_match_message(out, message: str) -> None:
    """All old or all new, and the message says which."""
    new = [(out / name).read_text() != PREVIOUS for name in ("r.json", "r.csv")]
    assert new[0] == new[1], (new, message)
    if new[0]:
        assert "written" in message and "unchanged" not in message, message
    else:
        assert "unchanged" in message or "nothing was written" in message, message


def test_interrupts_around_the_commit_keep_outputs_consistent(cases, tmp_path):
    """SIGINT at many moments near the end of a run: the outputs and the message always agree."""
    probe = popen("score", *cases, "-j", "2", "--json", tmp_path / "p.json", "--csv", tmp_path / "p.csv")
    _started(probe)
    began = time.monotonic()
    finish(probe)
    length = time.monotonic() - began
    outcomes = set()
    for i, fraction in enumerate((0.80, 0.88, 0.93, 0.96, 0.98, 0.99, 1.0, 1.01, 1.03)):
        out = tmp_path / f"run{i}"
        out.mkdir()
        (out / "r.json").write_text(PREVIOUS)
        (out / "r.csv").write_text(PREVIOUS)
        proc = popen("score", *cases, "-j", "2", "--json", out / "r.json", "--csv", out / "r.csv")
        _started(proc)
        time.sleep(length * fraction)
        _signal(proc, signal.SIGINT)
        _, stderr = finish(proc)
        if proc.returncode == 0:
            outcomes.add("finished")
            continue
        _assert_clean_end(proc, stderr, 130)
        last = stderr.decode().strip().splitlines()[-1]
        _outputs_match_message(out, last)
        assert not _left_over(out)
        outcomes.add(last.split(":", 2)[-1].strip()[:20])
    assert outcomes  # at least one run checked


def test_signal_during_the_renames_is_held_until_all_are_done(pngset, tmp_path, monkeypatch):
    """A Ctrl-C that lands after the first rename: both files are new and the message says so."""
    import dicecli.io.outputs

    for name in ("r.json", "r.csv"):
        (tmp_path / name).write_text(PREVIOUS)
    real_replace = os.replace

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(dicecli.io.outputs.os, "replace", replace_then_interrupt)
    r = CliRunner().invoke(main, ["score", *map(str, pngset), "--json", str(tmp_path / "r.json"),
                                  "--csv", str(tmp_path / "r.csv")])
    assert r.exit_code == ExitStatus.INTERRUPTED
    assert (tmp_path / "r.json").read_text() != PREVIOUS and (tmp_path / "r.csv").read_text() != PREVIOUS
    assert "r.json, " in r.stderr and "written" in r.stderr and "unchanged" not in r.stderr
    assert "nothing was written" not in r.stderr


def test_sigterm_to_dice_alone_takes_its_workers_down(cases):
    proc = popen("score", *cases, "-j", "2")
    _started(proc)
    assert wait_until(lambda: len(children(proc.pid)) == 2, timeout=30)
    _signal(proc, signal.SIGTERM, group=False)  # not the group: the workers must be stopped by dice
    _, stderr = finish(proc)
    _assert_clean_end(proc, stderr, 143)


def test_command_substitution_returns_after_early_ctrl_c(cases):
    """`$(dice ...)` waits for every holder of the pipe: an orphaned worker would hang it."""
    for delay in (0.0, 0.05, 0.15, 0.3):
        proc = popen("score", *cases, "-j", "2", stderr=subprocess.DEVNULL)
        _started(proc)
        time.sleep(delay)
        _signal(proc, signal.SIGINT)
        finish(proc, timeout=30)
        assert proc.returncode in (0, 130)
        assert wait_until(lambda: not session_members(proc.pid), timeout=10)


# --- broken pipes -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_closed_stdout_exits_quietly(pngset, fmt):
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    proc = popen("score", *pngset, "--format", fmt, stdout=write)
    os.close(write)
    _, stderr = finish(proc)
    assert proc.returncode == ExitStatus.BROKEN_PIPE, stderr
    assert b"Traceback" not in stderr and b"error" not in stderr


def test_closed_stderr_exits_quietly(pngset):
    read, write = os.pipe()
    os.close(read)
    proc = popen("score", *pngset, stderr=write)
    os.close(write)
    stdout, _ = finish(proc)
    assert proc.returncode == ExitStatus.BROKEN_PIPE


def test_pipe_into_head_exits_like_other_tools(cases):
    shell = f"{' '.join(map(repr, dice_cmd('score', *cases, '--format', 'csv', '-j', '2')))} | head -1; " \
            "echo status=${PIPESTATUS[0]} >&2"
    r = subprocess.run(["bash", "-c", shell], capture_output=True, timeout=120)
    assert r.stdout.startswith(b"case,class,dice") and len(r.stdout.splitlines()) == 1
    status = int(r.stderr.decode().rsplit("status=", 1)[1])
    assert status in (0, ExitStatus.BROKEN_PIPE), r.stderr
    assert b"Traceback" not in r.stderr and b"error" not in r.stderr


def test_handlers_are_restored_after_an_in_process_command():
    assert CliRunner().invoke(main, ["score", "--help"]).exit_code == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
