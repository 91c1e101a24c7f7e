"""Worker processes: a killed worker loses its case, not the run; workers never outlive dice.

Real `dice` runs on 120 hard-linked 3D cases; the workers are found as children of the dice
process in /proc and killed from outside, as the out-of-memory killer would.
"""

import json
import os
import signal
import subprocess
import time

import pytest
from run_helpers import children, dice_cmd, finish, nifti_cases, popen, session_members, wait_until

from dicecli.errors import ExitStatus

N_CASES = 120

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """N_CASES 3D cases: a few seconds of work on two workers, so a worker killed once the first
    cases are back still holds some."""
    return nifti_cases(tmp_path_factory.mktemp("workers"), N_CASES)


def _workers(proc) -> list[int]:
    """The two worker processes of a running `dice -j 2` (waits for them)."""
    found = wait_until(lambda: children(proc.pid) if len(children(proc.pid)) == 2 else None, timeout=30)
    assert found, "dice never had two workers"
    return found


def _no_one_left(proc) -> None:
    assert wait_until(lambda: not session_members(proc.pid), timeout=10), \
        f"processes left behind: {session_members(proc.pid)}"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killed_worker_loses_its_case_not_the_run(cases, signum, tmp_path):
    """A worker killed inside a case loses that case (named, exit 3); every other case is scored,
    in order. A worker killed between cases (its answers sent or not yet begun) loses nothing:
    its unfinished items are scored again (exit 0). Both are right; the kill is repeated until
    one lands inside a case, and every attempt must give complete, correct output."""
    names = [f"c{i:03d}" for i in range(N_CASES)]
    reference = subprocess.run(dice_cmd("score", *cases, "-j", "1", "--format", "json"), capture_output=True)
    expected = {c["case"]: c["classes"] for c in json.loads(reference.stdout)["cases"]}
    for attempt in range(5):
        journal = tmp_path / f"progress{attempt}.jsonl"
        proc = popen("score", *cases, "-j", "2", "--format", "json", "--journal", str(journal))
        workers = _workers(proc)
        # Kill only once cases are coming back (the journal has a line), so both workers hold work,
        # however slowly a loaded machine started them.
        assert wait_until(lambda: journal.exists() and journal.read_text().count("\n") >= 1, timeout=60)
        os.kill(workers[0], signum)  # as the out-of-memory killer would
        stdout, stderr = finish(proc, timeout=120)
        assert b"Traceback" not in stderr
        _no_one_left(proc)
        doc = json.loads(stdout)
        lost = [e["case"] for e in doc["errors"]]
        assert sorted([c["case"] for c in doc["cases"]] + lost) == names  # every other case scored
        assert [c["case"] for c in doc["cases"]] == [n for n in names if n not in lost]  # in order
        assert all(c["classes"] == expected[c["case"]] for c in doc["cases"])
        if not lost:
            assert proc.returncode == ExitStatus.OK, stderr
            continue
        assert proc.returncode == ExitStatus.INPUT_ERROR, stderr
        assert len(lost) == 1, doc["errors"]
        message = doc["errors"][0]["message"]
        assert f"case '{lost[0]}'" in message and signal.Signals(signum).name in message
        assert f"{lost[0]}" in stderr.decode() and signal.Signals(signum).name in stderr.decode()
        return
    pytest.fail("five kills in a row landed between cases: no case was ever lost")


def test_sigkill_to_dice_takes_its_workers_down(cases):
    proc = popen("score", *cases, "-j", "2")
    _workers(proc)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up possible: the workers must notice on their own
    finish(proc)  # returns only when nothing holds stdout any more
    _no_one_left(proc)


# --- ordered_map itself (forked workers of this test process) -----------------------------------


def _square_or_die(x: int) -> int:
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)  # this item kills the worker scoring it
    return x * x


def _fail_on_five(x: int) -> int:
    if x == 5:
        raise ValueError("five")
    return x


@pytest.mark.parametrize("batch", [1, 4])
def test_ordered_map_names_the_item_in_hand_and_redoes_the_rest(batch):
    from dicecli.run.workers import Lost, ordered_map

    out = list(ordered_map(_square_or_die, range(20), jobs=2, batch=batch))
    assert [o.index for o in out if isinstance(o, Lost)] == [7]
    assert out[7].exitcode == -signal.SIGKILL and out[7].reason == "killed by SIGKILL"
    assert [o for i, o in enumerate(out) if i != 7] == [i * i for i in range(20) if i != 7]


def test_ordered_map_reraises_a_bug_and_stops_its_workers():
    from dicecli.run.workers import ordered_map

    before = set(children(os.getpid()))
    with pytest.raises(ValueError, match="five"):
        list(ordered_map(_fail_on_five, range(40), jobs=2, batch=2))
    assert wait_until(lambda: set(children(os.getpid())) <= before, timeout=10)


def _item_and_pid(item):
    time.sleep(0.01)
    return item, os.getpid()


def test_ordered_map_shares_items_with_this_process_when_local():
    """local: this process takes items from the far end while the worker takes the front; the
    outcomes still come in input order."""
    from dicecli.run.workers import ordered_map

    out = list(ordered_map(_item_and_pid, list(range(40)), jobs=1, local=True))
    assert [item for item, _ in out] == list(range(40))
    here = [item for item, pid in out if pid == os.getpid()]
    assert here and len(here) < 40 and max(here) == 39  # this process took items, from the end


def _fails_on_seven(item):
    if item == 7:
        raise ValueError("seven")
    return item


def test_ordered_map_local_exceptions_propagate():
    from dicecli.run.workers import ordered_map

    with pytest.raises(ValueError, match="seven"):
        list(ordered_map(_fails_on_seven, list(range(8)), jobs=1, local=True))


def test_workers_fork_only_on_linux():
    from dicecli.run.workers import start_method

    assert start_method("linux") == "fork"
    assert start_method("darwin") == "spawn" and start_method("win32") == "spawn"


def test_ordered_map_under_spawn_as_on_macos():
    """The macOS start method, run here: fresh interpreters find the function by import, a death
    still names the item in hand, the rest come back in order."""
    import multiprocessing

    from dicecli.run.workers import Lost, ordered_map

    out = list(ordered_map(_square_or_die, range(12), jobs=2, batch=2,
                           context=multiprocessing.get_context("spawn")))
    assert [o.index for o in out if isinstance(o, Lost)] == [7]
    assert [o for i, o in enumerate(out) if i != 7] == [i * i for i in range(12) if i != 7]


def test_cases_score_the_same_under_spawn(tmp_path):
    """score_pair and its settings cross a spawn boundary (pickled, not inherited) unchanged."""
    import multiprocessing
    from functools import partial
    from pathlib import Path

    from dicecli.case import score_pair
    from dicecli.io.pairing import pair_paths
    from dicecli.run.workers import ordered_map
    from dicecli.settings import Settings

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    pairs = pair_paths(str(fixtures / "png2d" / "gt"), str(fixtures / "png2d" / "pred")).pairs
    function = partial(score_pair, settings=Settings())
    here = [function(p) for p in pairs]
    there = list(ordered_map(function, pairs, jobs=2, context=multiprocessing.get_context("spawn")))
    assert len(here) == len(pairs) >= 2
    for a, b in zip(here, there):
        assert a.case == b.case and a.counts.labels.tolist() == b.counts.labels.tolist()
        assert a.counts.tp.tolist() == b.counts.tp.tolist() and a.counts.fn.tolist() == b.counts.fn.tolist()
