"""--journal/--resume (a killed run resumes without rescoring) and --scheduler (Dask distributed):
both must give the very reports of a clean local run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicecli.run.evaluate import evaluate
from dicecli.run.journal import record_result, result_record
from helpers import run, strict_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def comparable(doc):
    """A JSON report without what differs between equal runs (nothing, today: keep the hook)."""
    return doc


def journal_lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_records_round_trip_through_the_journal_format():
    ev = evaluate(FIXTURES / "brats" / "gt", FIXTURES / "brats" / "pred", jobs=1,
                  regions={"WT": [1, 2, 3], "ET": [3]}, soft=False)
    for case in ev.cases:
        back = record_result(json.loads(json.dumps(result_record(case))))
        assert back.case == case.case and back.pred_kind == case.pred_kind
        for name in ("labels", "tp", "fp", "fn"):
            np.testing.assert_array_equal(getattr(back.counts, name), getattr(case.counts, name))
        np.testing.assert_array_equal(back.region_counts, case.region_counts)


def test_resume_reuses_unchanged_cases_and_rescores_the_rest(tmp_path):
    gt, pred = FIXTURES / "png2d" / "gt", FIXTURES / "png2d" / "pred"
    clean = strict_json(run(gt, pred, "--format", "json", "-q").stdout)
    journal = tmp_path / "run.jsonl"
    first = run(gt, pred, "--format", "json", "--journal", journal, "-q")
    assert first.exit_code == 0, first.stderr
    assert comparable(strict_json(first.stdout)) == comparable(clean)
    assert [line["case"] for line in journal_lines(journal)] == [c["case"] for c in clean["cases"]]
    again = run(gt, pred, "--format", "json", "--journal", journal, "--resume")
    assert again.exit_code == 0, again.stderr
    assert comparable(strict_json(again.stdout)) == comparable(clean)
    assert len(journal_lines(journal)) == len(clean["cases"])  # nothing scored twice
    assert "5 case(s) taken from the journal, 0 to score" in again.stderr
    # a torn last line (a crash mid-write): that case alone is scored again
    text = journal.read_text()
    journal.write_text(text[: len(text) - 40])
    torn = run(gt, pred, "--format", "json", "--journal", journal, "--resume")
    assert torn.exit_code == 0, torn.stderr
    assert "incomplete" in torn.stderr
    assert comparable(strict_json(torn.stdout)) == comparable(clean)
    # other settings: nothing is reused
    other = run(gt, pred, "--format", "json", "--journal", journal, "--resume", "--threshold", "0.3",
                "--pred-kind", "prob")
    assert "journaled under other settings" in other.stderr


def test_a_changed_file_is_scored_again(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for d in (gt_dir, pred_dir):
        d.mkdir()
        for name in ("a", "b"):
            (d / f"{name}.png").write_bytes((FIXTURES / "png2d" / d.name / "case01.png").read_bytes())
    journal = tmp_path / "j.jsonl"
    assert run(gt_dir, pred_dir, "--journal", journal, "-q").exit_code == 0
    (pred_dir / "b.png").write_bytes((FIXTURES / "png2d" / "pred" / "case02.png").read_bytes())
    os.utime(pred_dir / "b.png", ns=(1, 1))
    resumed = run(gt_dir, pred_dir, "--journal", journal, "--resume", "--format", "json")
    assert "1 case(s) taken from the journal, 1 to score" in resumed.stderr
    assert [line["case"] for line in journal_lines(journal)] == ["a", "b", "b"]
    fresh = strict_json(run(gt_dir, pred_dir, "--format", "json", "-q").stdout)
    assert strict_json(resumed.stdout)["cases"] == fresh["cases"]


def test_resume_needs_a_journal(pngset):
    gt, pred = pngset
    result = run(gt, pred, "--resume")
    assert result.exit_code == 2 and "--journal" in result.stderr


def make_volumes(folder: Path, n: int, shape=(96, 96, 48)):
    rng = np.random.default_rng(0)
    for side in ("gt", "pred"):
        (folder / side).mkdir(parents=True)
    for i in range(n):
        g = (rng.random(shape) < 0.3).astype(np.int16)  # int16: the whole-volume path, slower than streaming
        p = g.copy()
        p[rng.random(shape) < 0.1] = 0
        nib.save(nib.Nifti1Image(g, np.eye(4)), str(folder / "gt" / f"c{i:02d}.nii.gz"))
        nib.save(nib.Nifti1Image(p, np.eye(4)), str(folder / "pred" / f"c{i:02d}.nii.gz"))


def test_a_killed_run_resumes_without_rescoring(tmp_path):
    make_volumes(tmp_path, 24)
    journal = tmp_path / "j.jsonl"
    command = [sys.executable, "-m", "dicecli", "score", str(tmp_path / "gt"), str(tmp_path / "pred"),
               "-j", "1", "-q", "--journal", str(journal)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 3):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    done = [line["case"] for line in journal_lines(journal)] if journal.read_text().endswith("\n") else \
        [json.loads(t)["case"] for t in journal.read_text().splitlines()[:-1]]
    assert 3 <= len(done) < 24, "the run was not killed mid-way"
    resumed = subprocess.run(command + ["--resume", "--format", "json"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    cases = [json.loads(t)["case"] for t in journal.read_text().splitlines() if t.startswith("{") and t.endswith("}")]
    assert sorted(set(cases)) == [f"c{i:02d}" for i in range(24)]
    assert len(cases) == 24  # every case once: none scored twice
    clean = subprocess.run(command[:-2] + ["--format", "json"], capture_output=True, text=True, timeout=300)
    assert json.loads(resumed.stdout)["cases"] == json.loads(clean.stdout)["cases"]
    assert json.loads(resumed.stdout)["summary"] == json.loads(clean.stdout)["summary"]


distributed = pytest.importorskip("distributed", reason="Dask distributed is the optional extra dicecli[dask]")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as local:
        yield local


@pytest.mark.parametrize("set_name", ["nifti3d", "softmax", "brats"])
def test_cluster_run_equals_local_run(cluster, set_name, tmp_path):
    gt, pred = FIXTURES / set_name / "gt", FIXTURES / set_name / "pred"
    extra = ["--label-names", str(FIXTURES / "brats" / "dataset.json")] if set_name == "brats" else []
    local = run(gt, pred, "--format", "json", "-q", *extra)
    remote = run(gt, pred, "--format", "json", "-q", "--scheduler", cluster.scheduler_address,
                 "--journal", tmp_path / "j.jsonl", *extra)
    assert remote.exit_code == local.exit_code == 0, remote.stderr
    assert strict_json(remote.stdout) == strict_json(local.stdout)
    assert len(journal_lines(tmp_path / "j.jsonl")) == len(strict_json(local.stdout)["cases"])


def test_cluster_input_errors_stay_per_case(cluster, tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for d in (gt_dir, pred_dir):
        d.mkdir()
        for name in ("a", "b"):
            (d / f"{name}.png").write_bytes((FIXTURES / "png2d" / d.name / "case01.png").read_bytes())
    (pred_dir / "b.png").write_bytes(b"not a png")
    result = run(gt_dir, pred_dir, "--scheduler", cluster.scheduler_address, "--format", "json")
    assert result.exit_code == 3
    doc = strict_json(result.stdout)
    assert [c["case"] for c in doc["cases"]] == ["a"] and doc["errors"][0]["case"] == "b"


def test_unreachable_scheduler_is_a_usage_error(pngset):
    gt, pred = pngset
    result = run(gt, pred, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2 and "cannot connect" in result.stderr


def _http_answer_server():
    """A listening socket whose every connection gets an HTTP error at once (as a web server, a
    dashboard port or a proxy answers what is no HTTP); (port, stop)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def answer():
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()

    def stop():
        stopping.set()
        server.close()

    return server.getsockname()[1], stop


def test_a_scheduler_address_where_no_dask_answers_is_a_usage_error(pngset, tmp_path):
    """An HTTP answer used to be read as a Dask frame of exabytes (MemoryError, exit 70); a JSON
    file that is no scheduler file an AssertionError (exit 70)."""
    gt, pred = pngset
    port, stop = _http_answer_server()
    try:
        answered = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "-q",
                                   "--scheduler", f"tcp://127.0.0.1:{port}"], capture_output=True, text=True,
                                  timeout=120)
    finally:
        stop()
    assert answered.returncode == 2, answered.stderr
    assert len(answered.stderr.splitlines()) == 1 and "cannot connect" in answered.stderr
    not_a_scheduler_file = tmp_path / "scheduler.json"
    not_a_scheduler_file.write_text("{}")
    result = run(gt, pred, "--scheduler", not_a_scheduler_file)
    assert result.exit_code == 2, result.stderr
    assert "no Dask scheduler answers there" in result.stderr


@pytest.mark.parametrize("option", ["--json", "--csv"])
def test_journal_that_is_also_a_report_output_is_refused(pngset, tmp_path, option):
    """The report would replace the journal as it is appended to (or the journal corrupt the report)."""
    journal = tmp_path / "run.out"
    (tmp_path / "link").symlink_to(journal)
    r = run(*pngset, "--journal", tmp_path / "link", option, journal)
    assert r.exit_code == 2 and "--journal" in r.stderr and "report output" in r.stderr, r.stderr
    assert not journal.exists()


def test_a_scheduler_address_that_accepts_and_stays_silent_is_a_usage_error(monkeypatch):
    """A server that accepts the connection and never answers (an HTTP server waiting for a
    request) kept dice waiting for ever: Dask bounds the TCP connect only."""
    import socket
    import time

    from dicecli.errors import UsageError
    from dicecli.run import cluster

    server = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody ever reads or writes
    monkeypatch.setattr(cluster, "DEADLINE_S", 2.0)
    started = time.monotonic()
    try:
        with pytest.raises(UsageError, match="nothing answered as a Dask scheduler within 2 s"):
            cluster.connect(f"tcp://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
    assert time.monotonic() - started < 60
