"""Batch behaviour: any number of jobs gives identical output; Ctrl-C stops cleanly."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from dicecli.cli import main


def make_nifti_set(root, n_cases, shape=(40, 36, 12), seed=0):
    rng = np.random.default_rng(seed)
    for side in ("gt", "pred"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for i in range(n_cases):
        gt = np.zeros(shape, dtype=np.uint8)
        for label in (1, 2, 3):
            x, y = rng.integers(4, shape[0] - 12), rng.integers(4, shape[1] - 12)
            gt[x:x + 8, y:y + 8, 2:9] = label
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=0)
        for side, array in (("gt", gt), ("pred", pred)):
            nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.8, 2.5, 1])), str(root / side / f"c{i:03d}.nii.gz"))


def test_jobs_give_identical_json_on_3d(tmp_path):
    make_nifti_set(tmp_path, 7)
    outputs = [CliRunner().invoke(main, ["score", str(tmp_path / "gt"), str(tmp_path / "pred"),
                                         "--format", "json", "-j", str(j)]).stdout for j in (1, 2, 3)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert [c["case"] for c in json.loads(outputs[0])["cases"]] == [f"c{i:03d}" for i in range(7)]


SLOW_RUN = textwrap.dedent("""
    import sys, time
    import dicecli.run.evaluate as ev
    real = ev.score_pair
    def slow(pair, settings):
        time.sleep(0.5)
        return real(pair, settings)
    ev.score_pair = slow
    from dicecli.cli import main
    main(["score", sys.argv[1], sys.argv[2], "--json", sys.argv[3], "-j", sys.argv[4]], prog_name="dice")
""")


def test_ctrl_c_exits_130_promptly_without_output(tmp_path):
    make_nifti_set(tmp_path, 12)
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.json"
        proc = subprocess.Popen(
            [sys.executable, "-c", SLOW_RUN, str(tmp_path / "gt"), str(tmp_path / "pred"), str(out), jobs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True,
        )
        time.sleep(1.5)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        started = time.monotonic()
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert time.monotonic() - started < 5
        assert "Traceback" not in stderr and "interrupted" in stderr
        assert not out.exists()
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def _child_page_faults(args) -> int:
    """Minor page faults of one `dice` child process (os.wait4's own rusage)."""
    proc = subprocess.Popen([sys.executable, "-m", "dicecli", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    assert proc.returncode == 0
    return usage.ru_minflt


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="glibc only")
def test_voxel_buffers_are_reused_across_cases(tmp_path):
    # 2 MiB per decoded file: without reuse, every case maps (and faults in) 4 MiB of fresh pages.
    shape = (128, 128, 128)
    few, many = tmp_path / "few", tmp_path / "many"
    make_nifti_set(few, 2, shape=shape)
    make_nifti_set(many, 10, shape=shape)
    faults = {name: _child_page_faults(["score", str(d / "gt"), str(d / "pred"), "-j", "1", "-q", "--format", "json"])
              for name, d in (("few", few), ("many", many))}
    fresh_pages_per_case = 2 * np.prod(shape) // 4096
    assert faults["many"] - faults["few"] < 0.25 * 8 * fresh_pages_per_case, faults


def _scored_where(monkeypatch, seconds_per_case: float):
    """Patch the scorer to take ``seconds_per_case`` and record which process scored each case."""
    from dicecli.run import evaluate

    real = evaluate.score_pair

    def slow(pair, settings):
        time.sleep(seconds_per_case)
        outcome = real(pair, settings)
        return outcome, os.getpid()

    monkeypatch.setattr(evaluate, "score_pair", slow)
    return evaluate


@pytest.mark.parametrize("cases, seconds, workers", [(4, 0.001, False), (12, 0.05, True), (2, 0.3, False)])
def test_default_jobs_start_workers_only_when_the_work_left_pays_for_them(tmp_path, monkeypatch, cases, seconds,
                                                                          workers):
    """A short run stays in this process; a long one starts a worker after its first case and
    shares the rest with it (a run of 2 cases never: one case left gains nothing from a worker).
    Outcomes keep case order."""
    from dicecli.io.pairing import pair_paths
    from dicecli.settings import Settings

    make_nifti_set(tmp_path, cases)
    evaluate = _scored_where(monkeypatch, seconds)
    monkeypatch.setattr(evaluate, "usable_cores", lambda: 2)
    pairing = pair_paths(str(tmp_path / "gt"), str(tmp_path / "pred"))
    outcomes = list(evaluate._score_all(list(pairing.pairs), Settings(jobs=0), None))
    assert [o.case for o, _ in outcomes] == [p.case for p in pairing.pairs]
    here = sum(pid == os.getpid() for _, pid in outcomes)
    assert outcomes[0][1] == os.getpid()  # the first case is timed here
    if workers:  # one worker (2 cores: it and this process), each with a fair share
        assert len({pid for _, pid in outcomes}) == 2 and 3 <= here <= cases - 3
    else:
        assert here == cases
    reference = list(evaluate._score_all(list(pairing.pairs), Settings(jobs=1), None))
    assert [o.counts.tp.tolist() for o, _ in outcomes] == [o.counts.tp.tolist() for o, _ in reference]


def test_explicit_jobs_start_workers_at_once(tmp_path, monkeypatch):
    from dicecli.io.pairing import pair_paths
    from dicecli.settings import Settings

    make_nifti_set(tmp_path, 4)
    evaluate = _scored_where(monkeypatch, 0.0)
    pairing = pair_paths(str(tmp_path / "gt"), str(tmp_path / "pred"))
    outcomes = list(evaluate._score_all(list(pairing.pairs), Settings(jobs=2), None))
    assert all(pid != os.getpid() for _, pid in outcomes)


def test_worth_workers_needs_work_beyond_twice_their_start_up():
    from dicecli.run.evaluate import WORKER_START_S, _worth_workers

    assert not _worth_workers(100.0, 1)  # one worker is no faster than this process
    assert not _worth_workers(3 * WORKER_START_S, 2)  # half of it saved: less than twice the start-up
    assert _worth_workers(5 * WORKER_START_S, 2)
    assert _worth_workers(3 * WORKER_START_S, 4)


def test_batches_hold_about_ten_milliseconds_of_small_cases_and_stay_balanced():
    from dicecli.run.evaluate import _batch

    assert _batch(20_000, 2) == 8  # time unknown (-j N): at most 8
    assert _batch(20_000, 2, case_s=0.0003) == 33  # 64x64 PNG pairs: about 10 ms a batch
    assert _batch(20_000, 2, case_s=1e-9) == 64
    assert _batch(64, 2, case_s=0.0003) == 4  # an eighth of each process's share at most
    assert _batch(16, 2, case_s=0.02) == 1  # big cases one by one


def test_small_cases_are_timed_past_the_first_before_workers_start(tmp_path, monkeypatch):
    """The first case pays one-time costs: with small cases the fastest of the first few sets the
    batch size, so a worker gets batches of many cases instead of one or two."""
    from dicecli.io.pairing import pair_paths
    from dicecli.run import evaluate
    from dicecli.settings import Settings

    make_nifti_set(tmp_path, 40)
    real = evaluate.score_pair
    calls = []

    def first_slow(pair, settings):
        calls.append(pair.case)
        time.sleep(0.004 if len(calls) == 1 else 0.0002)
        return real(pair, settings)

    chosen = {}

    def capture(pairs, settings, jobs, *, local=False, case_s=None):
        chosen.update(n=len(pairs), case_s=case_s, batch=evaluate._batch(len(pairs), jobs + local, case_s))
        return iter([real(p, settings) for p in pairs])

    monkeypatch.setattr(evaluate, "score_pair", first_slow)
    monkeypatch.setattr(evaluate, "_score_on_workers", capture)
    monkeypatch.setattr(evaluate, "usable_cores", lambda: 2)
    monkeypatch.setattr(evaluate, "WORKER_START_S", 0.0001)
    pairing = pair_paths(str(tmp_path / "gt"), str(tmp_path / "pred"))
    outcomes = list(evaluate._score_all(list(pairing.pairs), Settings(jobs=0), None))
    assert [o.case for o in outcomes] == [p.case for p in pairing.pairs]
    assert chosen["n"] == 40 - evaluate.TIMED_CASES  # decided after the cases timed here
    assert chosen["case_s"] < 0.004  # not the first case's time
