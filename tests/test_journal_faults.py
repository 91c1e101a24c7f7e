"""Journal faults in real runs: a line torn by a stopped run, and a journal that cannot be written
(full disk, ``ulimit -f``). Either way --resume must end in the reports of a clean run."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from dicecli.errors import ExitStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GT, PRED = FIXTURES / "png2d" / "gt", FIXTURES / "png2d" / "pred"


def score(*args, preexec_fn=None):
    command = [sys.executable, "-m", "dicecli", "score", str(GT), str(PRED), "-q", "-j", "1", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=preexec_fn)


@pytest.fixture(scope="module")
def clean():
    return json.loads(score("--format", "json").stdout)


def test_resumes_after_a_torn_line_leave_a_journal_that_resumes_again(tmp_path, clean):
    """A run stopped mid-write leaves a line without its end; the resumed run appended right after
    it, so the torn piece and the next line became one damaged line in the middle, and the next
    --resume was an input error (exit 3)."""
    journal = tmp_path / "run.jsonl"
    assert score("--journal", journal).returncode == 0
    text = journal.read_bytes()
    journal.write_bytes(text[: len(text) - 40])  # as a kill inside the last write leaves it
    for _ in range(2):
        again = score("--journal", journal, "--resume", "--format", "json")
        assert again.returncode == ExitStatus.OK, again.stderr
        assert json.loads(again.stdout) == clean
    assert [json.loads(line)["case"] for line in journal.read_text().splitlines()] == \
        [c["case"] for c in clean["cases"]]


@pytest.mark.parametrize("keep", [100, 6])  # a torn first line: past and inside its opening '{"v": 1, "case": '
def test_a_torn_only_line_is_cut_too(tmp_path, clean, keep):
    """A run stopped while writing its first case leaves a journal of one torn line, no newline."""
    journal = tmp_path / "run.jsonl"
    assert score("--journal", journal).returncode == 0
    journal.write_bytes(journal.read_bytes()[:keep])
    for _ in range(2):
        again = score("--journal", journal, "--resume", "--format", "json")
        assert again.returncode == ExitStatus.OK, again.stderr
        assert json.loads(again.stdout) == clean


def test_a_file_that_is_not_a_journal_is_never_cut(tmp_path):
    # --journal naming some other text file by mistake: its last line (no newline) is not torn
    # journal output, and must stay.
    notes = tmp_path / "notes.txt"
    notes.write_text("first line\nlast line without an end")
    score("--journal", notes)
    assert notes.read_text().startswith("first line\nlast line without an end")
    one_line = tmp_path / "one.txt"
    one_line.write_text("a single line without an end")
    score("--journal", one_line)
    assert one_line.read_text().startswith("a single line without an end")


def test_a_complete_last_line_without_its_newline_is_kept(tmp_path, clean):
    journal = tmp_path / "run.jsonl"
    assert score("--journal", journal).returncode == 0
    journal.write_text(journal.read_text().rstrip("\n"))
    again = score("--journal", journal, "--resume", "--format", "json")
    assert again.returncode == ExitStatus.OK, again.stderr
    assert json.loads(again.stdout) == clean
    assert journal.read_text().endswith("}\n")
    assert len(journal.read_text().splitlines()) == 5  # every case reused, none scored again


def _file_size_limit(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_journal_that_cannot_be_written_is_an_output_error(tmp_path, clean):
    """ulimit -f (and a full disk) used to be an internal error (exit 70) with an OSError."""
    journal, report = tmp_path / "run.jsonl", tmp_path / "out.json"
    report.write_text("old")
    failed = score("--journal", journal, "--json", report, preexec_fn=_file_size_limit(1500))
    assert failed.returncode == ExitStatus.OUTPUT_ERROR, failed.stderr
    assert failed.stderr.splitlines() == [
        f"dice: error: cannot write the journal {journal} (file too large); scoring stopped, "
        "the cases it holds are reused by --resume"]
    assert report.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.json", "run.jsonl"]  # no temporary file left
    resumed = score("--journal", journal, "--resume", "--format", "json")
    assert resumed.returncode == ExitStatus.OK, resumed.stderr
    assert json.loads(resumed.stdout) == clean


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_journal_on_a_full_device_is_an_output_error():
    failed = score("--journal", "/dev/full")
    assert failed.returncode == ExitStatus.OUTPUT_ERROR, failed.stderr
    assert "cannot write the journal /dev/full (no space left on device)" in failed.stderr
    assert "Traceback" not in failed.stderr and "internal error" not in failed.stderr
