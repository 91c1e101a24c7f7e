"""Output files: checked before scoring, committed together, devices and FIFOs written directly.

Expected contents come from `--format json/csv` on stdout of the same run (the contract says
files and stdout carry the same report) or are written by hand ("previous").
"""

import json
import os
import resource
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import run
from run_helpers import (IS_ROOT, can_drop_file_permissions, dice_cmd, drop_file_permissions_preexec,
                         finish, popen)

from dicecli.errors import ExitStatus

PREVIOUS = "previous contents\n"


def _dice(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(dice_cmd(*args), capture_output=True, timeout=120, **kwargs)


def _temp_files(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp") or name.endswith(".old")]


def _one_error_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode().splitlines() if "error" in line]
    assert len(lines) == 1, stderr.decode()
    assert "Traceback" not in stderr.decode()
    return lines[0]


def _mknod(path, major: int, minor: int) -> None:
    if not IS_ROOT:
        pytest.skip("mknod needs root")
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror})")


@pytest.fixture
def previous(tmp_path):
    """out/ with out.json and out.csv holding PREVIOUS."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("out.json", "out.csv"):
        (out / name).write_text(PREVIOUS)
    return out


# --- devices and FIFOs are written directly --------------------------------------------------


def test_device_nodes_stay_devices(pngset, tmp_path):
    null, zero = tmp_path / "null", tmp_path / "zero"
    _mknod(null, 1, 3)
    _mknod(zero, 1, 5)  # /dev/zero also swallows writes
    r = _dice("score", *pngset, "--json", null, "--csv", tmp_path / "out.csv", "--junit", zero)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode) and stat.S_ISCHR(os.stat(zero).st_mode)
    assert (tmp_path / "out.csv").read_text().startswith("case,class,dice")
    assert not _temp_files(tmp_path)


def test_full_device_is_a_write_failure_and_other_outputs_stay(pngset, tmp_path, previous):
    if IS_ROOT:
        full = tmp_path / "full"
        _mknod(full, 1, 7)
    else:
        full = "/dev/full"
    r = _dice("score", *pngset, "--json", previous / "out.json", "--csv", full, "--format", "json")
    assert r.returncode == ExitStatus.OUTPUT_ERROR
    line = _one_error_line(r.stderr)
    assert str(full) in line and "no space left on device" in line and f"{previous / 'out.json'} left unchanged" in line
    assert json.loads(r.stdout)["cases"]  # the report is printed anyway
    assert (previous / "out.json").read_text() == PREVIOUS
    assert stat.S_ISCHR(os.stat(full).st_mode)
    assert not _temp_files(previous)


def test_fifo_target_is_written_directly(pngset, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received = {}
    reader = threading.Thread(target=lambda: received.setdefault("data", fifo.read_bytes()))
    reader.start()
    r = _dice("score", *pngset, "--json", fifo, "--format", "json")
    reader.join(10)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received["data"] == r.stdout and json.loads(received["data"])["cases"]
    assert not _temp_files(tmp_path)


def test_a_link_to_stdout_writes_to_stdout_in_order(pngset, tmp_path):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")  # what /dev/stdout is; the real one is never risked here
    out = tmp_path / "captured.txt"
    with open(out, "wb") as handle:  # a regular file as stdout: reopening it would clobber it
        r = subprocess.run(dice_cmd("score", *pngset, "--json", link, "--format", "csv", "-q"),
                           stdout=handle, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    text = out.read_text()
    csv_text = _dice("score", *pngset, "--format", "csv", "-q").stdout.decode()
    json_text = _dice("score", *pngset, "--format", "json", "-q").stdout.decode()
    assert text == json_text + csv_text


def test_symlinked_output_replaces_the_file_it_points_to(pngset, tmp_path):
    real = tmp_path / "runs" / "42.json"
    real.parent.mkdir()
    real.write_text(PREVIOUS)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    r = run(*pngset, "--json", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and json.loads(real.read_text())["cases"]


def test_same_device_twice_is_fine_same_file_twice_is_not(pngset, tmp_path):
    null = tmp_path / "null"
    if IS_ROOT:
        _mknod(null, 1, 3)
    else:
        null = "/dev/null"
    assert run(*pngset, "--json", null, "--csv", null).exit_code == 0
    r = run(*pngset, "--json", tmp_path / "a", "--csv", tmp_path / "a")
    assert r.exit_code == ExitStatus.USAGE and "same file" in r.stderr


# --- every target checked before scoring ------------------------------------------------------


@pytest.fixture
def no_scoring(monkeypatch):
    import dicecli.run.evaluate

    def scored(*args, **kwargs):
        raise AssertionError("scored although an output can never be written")

    monkeypatch.setattr(dicecli.run.evaluate, "evaluate_pairing", scored)


@pytest.mark.parametrize("where, needle", [
    ("missing/out.json", "does not exist"),
    ("afile/out.json", "is not a folder"),
    ("afile/deeper/out.json", "is not a folder"),
])
def test_impossible_target_is_a_usage_error_before_scoring(pngset, tmp_path, no_scoring, where, needle):
    (tmp_path / "afile").write_text("x")
    r = run(*pngset, "--csv", tmp_path / "fine.csv", "--json", tmp_path / where)
    assert r.exit_code == ExitStatus.USAGE, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and where.split("/")[0] in lines[0]
    assert not (tmp_path / "fine.csv").exists()


@pytest.mark.parametrize("args, option", [
    (("--json", ""), "--json"),
    (("--csv", ""), "--csv"),
    (("--journal", ""), "--journal"),
    (("--baseline", ""), "--baseline"),
    (("--json", "-"), "--json"),
])
def test_empty_or_dash_file_name_is_a_usage_error(pngset, tmp_path, args, option):
    """An unset variable ("--baseline $B") must not turn a gate off, nor '-' write a file named '-'."""
    r = _dice("score", *pngset, *args, cwd=tmp_path)
    assert r.returncode == ExitStatus.USAGE, r.stderr
    assert f"Invalid value for '{option}'" in r.stderr.decode() and "Traceback" not in r.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["gt", "pred"]


def test_empty_argument_is_a_usage_error(pngset, tmp_path):
    for args in (("score", "", pngset[1]), ("compare", "", "b.json"), ("report", "a.json", "--html", "")):
        r = _dice(*args, cwd=tmp_path)
        assert r.returncode == ExitStatus.USAGE and b"empty file name" in r.stderr, (args, r.stderr)


def test_read_only_folder_is_refused_before_scoring(pngset, tmp_path, previous):
    if not can_drop_file_permissions():
        pytest.skip("cannot drop root's file-permission override here")
    os.chmod(previous, 0o555)
    try:
        r = _dice("score", *pngset, "--json", previous / "out.json", preexec_fn=drop_file_permissions_preexec())
    finally:
        os.chmod(previous, 0o755)
    assert r.returncode == ExitStatus.USAGE, r.stderr
    line = _one_error_line(r.stderr)
    assert "permission denied" in line and "out.json" in line
    assert (previous / "out.json").read_text() == PREVIOUS
    assert b"case(s) paired" not in r.stderr  # stopped before scoring


def test_read_only_file_is_refused(pngset, tmp_path, previous):
    if not can_drop_file_permissions():
        pytest.skip("cannot drop root's file-permission override here")
    os.chmod(previous / "out.json", 0o444)
    r = _dice("score", *pngset, "--json", previous / "out.json", preexec_fn=drop_file_permissions_preexec())
    assert r.returncode == ExitStatus.USAGE, r.stderr
    assert "read-only" in _one_error_line(r.stderr)
    assert (previous / "out.json").read_text() == PREVIOUS


@pytest.fixture
def tmpfs(tmp_path):
    """A fresh tmpfs (root only): yields a mount helper taking options."""
    mounted = []

    def mount(options: str):
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
        mounted.append(point)
        return point

    if not IS_ROOT:
        pytest.skip("mounting a file system needs root")
    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def test_read_only_file_system_is_refused_before_scoring(pngset, tmpfs):
    point = tmpfs("size=1m")
    (point / "out.json").write_text(PREVIOUS)
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    r = _dice("score", *pngset, "--json", point / "out.json")
    assert r.returncode == ExitStatus.USAGE, r.stderr
    assert "read-only file system" in _one_error_line(r.stderr)
    assert (point / "out.json").read_text() == PREVIOUS


def test_full_file_system_keeps_every_previous_output(pngset, tmpfs):
    point = tmpfs("size=64k")
    for name in ("out.json", "out.csv"):
        (point / name).write_text(PREVIOUS)
    with pytest.raises(OSError), open(point / "filler", "wb") as filler:
        while True:  # fill the file system to the last byte
            filler.write(b"x" * 4096)
            filler.flush()
    r = _dice("score", *pngset, "--csv", point / "out.csv", "--json", point / "out.json", "--format", "csv")
    assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
    line = _one_error_line(r.stderr)
    assert "no space left on device" in line and "out.json" in line
    assert r.stdout.startswith(b"case,class,dice")  # the report is printed anyway
    assert (point / "out.json").read_text() == PREVIOUS and (point / "out.csv").read_text() == PREVIOUS
    assert not _temp_files(point)


def _file_size_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_file_size_limit_is_a_write_failure_not_a_crash(pngset, previous):
    csv_size = len(run(*pngset, "--format", "csv").stdout)
    # Room for the CSV but not the JSON. No bytecode is written: a big .pyc would hit the limit first.
    r = _dice("score", *pngset, "--csv", previous / "out.csv", "--json", previous / "out.json",
              "--format", "json", preexec_fn=_file_size_limit(csv_size + 100),
              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
    line = _one_error_line(r.stderr)
    assert "out.json" in line and "file too large" in line and "left unchanged" in line
    assert json.loads(r.stdout)["cases"]
    assert (previous / "out.json").read_text() == PREVIOUS and (previous / "out.csv").read_text() == PREVIOUS
    assert not _temp_files(previous)


def test_failed_rename_puts_back_the_outputs_already_renamed(pngset, previous, monkeypatch):
    import dicecli.io.outputs

    real_replace = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(dicecli.io.outputs.os, "replace", second_fails)
    r = run(*pngset, "--json", previous / "out.json", "--csv", previous / "out.csv")
    assert r.exit_code == ExitStatus.OUTPUT_ERROR
    assert "input/output error" in r.stderr and "Traceback" not in r.stderr
    assert (previous / "out.json").read_text() == PREVIOUS and (previous / "out.csv").read_text() == PREVIOUS
    assert "Dice per class" in r.stdout  # the report is printed anyway
    assert not _temp_files(previous)


def test_stdout_on_a_full_device_is_a_write_failure(pngset, tmp_path):
    if IS_ROOT:
        full = tmp_path / "full"
        _mknod(full, 1, 7)
    else:
        full = "/dev/full"
    with open(full, "wb") as sink:
        r = subprocess.run(dice_cmd("score", *pngset, "--format", "json"), stdout=sink, stderr=subprocess.PIPE,
                           timeout=120)
    assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
    assert "standard output" in _one_error_line(r.stderr)


def test_stdout_failure_says_what_became_of_the_output_files(pngset, tmp_path):
    with open("/dev/full", "wb") as sink:
        r = subprocess.run(dice_cmd("score", *pngset, "--format", "json", "--json", tmp_path / "out.json"),
                           stdout=sink, stderr=subprocess.PIPE, timeout=120)
        assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
        line = _one_error_line(r.stderr)
        assert "standard output (no space left on device)" in line and f"{tmp_path / 'out.json'} written" in line
        assert json.loads((tmp_path / "out.json").read_text())["cases"]
        # A file that fails as well keeps its own line: both failures are told.
        r = subprocess.run(dice_cmd("score", *pngset, "--json", "/dev/full"), stdout=sink, stderr=subprocess.PIPE,
                           timeout=120)
    errors = [line for line in r.stderr.decode().splitlines() if line.startswith("dice: error:")]
    assert r.returncode == ExitStatus.OUTPUT_ERROR and len(errors) == 2, r.stderr
    assert "cannot write /dev/full" in errors[0] and "standard output" in errors[1]


def test_sweep_tells_both_failures_when_a_file_and_stdout_fail():
    prob = Path(__file__).resolve().parent.parent / "fixtures" / "prob"
    with open("/dev/full", "wb") as sink:
        r = subprocess.run(dice_cmd("sweep", prob / "gt", prob / "pred", "--json", "/dev/full"), stdout=sink,
                           stderr=subprocess.PIPE, timeout=120)
    errors = [line for line in r.stderr.decode().splitlines() if line.startswith("dice: error:")]
    assert r.returncode == ExitStatus.OUTPUT_ERROR and len(errors) == 2, r.stderr
    assert "cannot write /dev/full" in errors[0] and "standard output" in errors[1]


def _with_closed(fd: int, *args) -> subprocess.CompletedProcess:
    """`dice ARGS` with descriptor ``fd`` (1 or 2) closed, as `dice ... >&-` runs it."""
    return subprocess.run(["sh", "-c", f'"$@" {fd}>&-', "sh", *dice_cmd(*args)], capture_output=True, timeout=120)


@pytest.mark.parametrize("args", [("--version",), ("score", "--help")])
def test_help_or_version_on_a_full_device_is_a_write_failure(args, tmp_path):
    with open("/dev/full", "wb") as sink:
        r = subprocess.run(dice_cmd(*args), stdout=sink, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
    assert "standard output (no space left on device)" in _one_error_line(r.stderr)


@pytest.mark.parametrize("extra, status", [((), ExitStatus.OK), (("--min-dice", "0.99"), ExitStatus.GATE_FAILED),
                                           (("--bogus",), ExitStatus.USAGE)])
def test_stderr_on_a_full_device_drops_the_messages_and_keeps_the_status(pngset, extra, status):
    with open("/dev/full", "wb") as sink:
        r = subprocess.run(dice_cmd("score", *pngset, "--format", "csv", *extra), stdout=subprocess.PIPE,
                           stderr=sink, timeout=120)
    assert r.returncode == status
    assert r.stdout.startswith(b"case,class,dice,") or status == ExitStatus.USAGE


def test_closed_stdout_is_a_write_failure_not_a_crash(pngset, tmp_path):
    r = _with_closed(1, "score", *pngset, "--json", tmp_path / "out.json")
    assert r.returncode == ExitStatus.OUTPUT_ERROR, r.stderr
    assert "standard output (bad file descriptor)" in _one_error_line(r.stderr)
    assert json.loads((tmp_path / "out.json").read_text())["cases"]  # no output file took descriptor 1
    assert _with_closed(1, "--version").returncode == ExitStatus.OUTPUT_ERROR


@pytest.mark.parametrize("extra, status", [((), ExitStatus.OK), (("--min-dice", "0.99"), ExitStatus.GATE_FAILED)])
def test_closed_stderr_drops_the_messages_and_keeps_the_status(pngset, extra, status):
    r = _with_closed(2, "score", *pngset, "--format", "csv", *extra)
    assert r.returncode == status and r.stdout.startswith(b"case,class,dice,")


# --- never write to an input -------------------------------------------------------------------


def test_job_summary_pointing_at_an_input_is_not_appended(pngset):
    gt, pred = pngset
    before = (gt / "a.png").read_bytes()
    r = run(gt, pred, env={"GITHUB_STEP_SUMMARY": str(gt / "a.png")})
    assert r.exit_code == 0
    assert (gt / "a.png").read_bytes() == before
    assert "GITHUB_STEP_SUMMARY" in r.stderr and "not appended" in r.stderr


def test_job_summary_still_appended_to_its_own_file(pngset, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    assert run(*pngset, env={"GITHUB_STEP_SUMMARY": str(summary)}).exit_code == 0
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "Dice" in text


def test_label_names_file_is_an_input(pngset, tmp_path):
    names = tmp_path / "names.json"
    names.write_text('{"liver": 1, "spleen": 2}')
    r = run(*pngset, "--label-names", names, "--json", names)
    assert r.exit_code == ExitStatus.USAGE and "over an input" in r.stderr
    assert names.read_text() == '{"liver": 1, "spleen": 2}'


def test_baseline_fifo_is_refused_without_waiting(pngset, tmp_path):
    fifo = tmp_path / "baseline.json"
    os.mkfifo(fifo)
    proc = popen("score", *pngset, "--baseline", fifo)
    _, stderr = finish(proc, timeout=60)
    assert proc.returncode == ExitStatus.INPUT_ERROR
    line = _one_error_line(stderr)
    assert str(fifo) in line and "not a regular file" in line


def test_compare_fifo_is_refused_without_waiting(pngset, tmp_path):
    report = tmp_path / "a.json"
    report.write_text(run(*pngset, "--format", "json").stdout)
    fifo = tmp_path / "b.json"
    os.mkfifo(fifo)
    proc = popen("compare", report, fifo)
    _, stderr = finish(proc, timeout=60)
    assert proc.returncode == ExitStatus.INPUT_ERROR and "not a regular file" in _one_error_line(stderr)


def test_write_atomic_keeps_the_library_function(tmp_path):
    from dicecli.io.outputs import write_atomic

    target = tmp_path / "x.txt"
    write_atomic(str(target), "é\n")
    assert target.read_text(encoding="utf-8") == "é\n" and not _temp_files(tmp_path)


def test_inputs_resolve_as_realpath_does_with_each_folder_resolved_once(tmp_path, monkeypatch):
    """_real_all (folders resolved once) equals os.path.realpath per path: folder links, file
    links, dangling links, '..' components, relative paths."""
    from dicecli.io import outputs

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.png").write_bytes(b"x")
    (tmp_path / "lnk").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "y.png").symlink_to(tmp_path / "real" / "x.png")
    (tmp_path / "real" / "z.png").symlink_to(tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path / "real")
    paths = [f"{tmp_path}/lnk/x.png", f"{tmp_path}/real/y.png", f"{tmp_path}/real/z.png",
             f"{tmp_path}/real/../real/x.png", f"{tmp_path}/lnk/", f"{tmp_path}/lnk/.", "x.png", "./y.png", "../lnk/x.png"]
    for path in paths:
        assert outputs._real_all([path]) == {outputs._real(path)}, path
    assert outputs._real_all(paths) == {outputs._real(p) for p in paths}
