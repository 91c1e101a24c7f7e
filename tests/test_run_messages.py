"""Hostile file names, and the status and one-line message of each kind of bad input."""

import json
import os
import subprocess

import numpy as np
import pytest
from helpers import png, run
from run_helpers import can_drop_file_permissions, dice_cmd, drop_file_permissions_preexec

from dicecli.errors import ExitStatus

LATIN1_NAME = os.fsdecode(b"caf\xe9")  # a Latin-1 file name: not UTF-8, so a lone surrogate in Python


def _dice(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(dice_cmd(*args), capture_output=True, timeout=120, **kwargs)


def _mask(value=1):
    a = np.zeros((4, 5))
    a[1:3, 1:4] = value
    return a


@pytest.fixture
def latin1_set(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for name in ("plain", LATIN1_NAME):
        png(gt / f"{name}.png", _mask())
        png(pred / f"{name}.png", _mask())
    return gt, pred


def test_undecodable_file_names_give_valid_utf8_identical_on_stdout_and_in_files(latin1_set, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    as_json = _dice("score", *latin1_set, "--format", "json", "--json", out_json, "--csv", out_csv)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == out_json.read_bytes()
    as_csv = _dice("score", *latin1_set, "--format", "csv")
    assert as_csv.returncode == 0 and as_csv.stdout == out_csv.read_bytes()
    for data in (as_json.stdout, as_csv.stdout):
        data.decode("utf-8")  # strict: raises on invalid UTF-8
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert [c["case"] for c in doc["cases"]] == [LATIN1_NAME, "plain"]  # \udce9 escapes decode to the name
    assert os.fsencode(doc["cases"][0]["gt"]).endswith(b"/caf\xe9.png")  # and back to the file's bytes
    assert "caf\\udce9," in as_csv.stdout.decode()  # CSV: the same escape, as text


def test_undecodable_file_names_in_the_table_and_messages(latin1_set):
    gt, pred = latin1_set
    png(gt / f"{LATIN1_NAME}2.png", _mask())  # no prediction: an error message names it
    r = _dice("score", gt, pred, "--per-case")
    assert r.returncode == ExitStatus.INPUT_ERROR, r.stderr
    assert "caf\\udce9 " in r.stdout.decode("utf-8")  # the scored case's row
    errors = [line for line in r.stderr.decode("utf-8").splitlines() if line.startswith("dice: error")]
    assert errors == [f"dice: error: {gt}/caf\\udce92.png: no prediction for case 'caf\\udce92'"]


def test_newlines_and_escapes_in_names_keep_messages_one_line(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for name in ("new\nline", "red\x1b[31mtext", "plain"):
        png(gt / f"{name}.png", _mask())
    for name in ("new\nline", "plain"):
        png(pred / f"{name}.png", _mask())
    out_csv = tmp_path / "r.csv"
    r = _dice("score", gt, pred, "--format", "csv", "--csv", out_csv)
    assert r.returncode == ExitStatus.INPUT_ERROR
    stderr = r.stderr.decode()
    assert "\x1b" not in stderr
    assert all(line.startswith("dice: ") for line in stderr.splitlines()), stderr
    assert "red\\x1b[31mtext" in stderr
    assert r.stdout == out_csv.read_bytes() and b'"new\nline"' in r.stdout  # CSV quotes the field
    table = _dice("score", gt, pred, "--per-case")
    assert b"\x1b" not in table.stdout and b"new\\nline" in table.stdout


# --- statuses and one-line messages ---------------------------------------------------------------


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr and not stderr.startswith("Usage"), stderr
    return lines[0]


def test_unreadable_folder_is_an_input_error(pngset):
    if not can_drop_file_permissions():
        pytest.skip("cannot drop root's file-permission override here")
    gt, pred = pngset
    os.chmod(pred, 0)
    try:
        r = _dice("score", gt, pred, "-q", preexec_fn=drop_file_permissions_preexec())
    finally:
        os.chmod(pred, 0o755)
    assert r.returncode == ExitStatus.INPUT_ERROR
    line = _one_line(r.stderr.decode())
    assert str(pred) in line and "permission denied" in line.lower()


def test_symlink_loop_is_an_input_error(pngset, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    for args in ((loop, pngset[1]), (pngset[0], loop)):
        r = run(*args)
        assert r.exit_code == ExitStatus.INPUT_ERROR
        line = _one_line(r.stderr)
        assert str(loop) in line and "symbolic links" in line and "two folders" not in line


def test_broken_symlink_is_an_input_error(pngset, tmp_path):
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere")
    r = run(dangling, pngset[1])
    assert r.exit_code == ExitStatus.INPUT_ERROR and "broken symbolic link" in _one_line(r.stderr)


@pytest.mark.parametrize("args, needle", [
    (("--labels", "99999999999999999999"), "too large"),
    (("--labels", "1,9223372036854775808"), "too large"),
    (("--baseline", "x.json", "--max-drop", "nan"), "--max-drop"),
    (("--baseline", "x.json", "--max-drop", "inf"), "--max-drop"),
    (("--baseline", "x.json", "--max-drop", "-0.1"), "--max-drop"),
])
def test_out_of_range_numbers_are_refused_at_parse_time(pngset, args, needle):
    r = run(*pngset, *args)
    assert r.exit_code == ExitStatus.USAGE and needle in r.stderr and "Traceback" not in r.stderr


def test_largest_label_is_accepted(pngset):
    r = run(*pngset, "--labels", str(2**63 - 1), "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert list(json.loads(r.stdout)["summary"]["classes"]) == [str(2**63 - 1)]


@pytest.fixture
def deep_json(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def test_deeply_nested_baseline_is_one_line(pngset, deep_json):
    r = run(*pngset, "--baseline", deep_json)
    assert r.exit_code == ExitStatus.INPUT_ERROR
    line = _one_line(r.stderr)
    assert str(deep_json) in line and "nested too deeply" in line


def test_deeply_nested_compare_input_is_one_line(pngset, deep_json, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(run(*pngset, "--format", "json").stdout)
    r = _dice("compare", good, deep_json)
    assert r.returncode == ExitStatus.INPUT_ERROR
    assert str(deep_json) in _one_line(r.stderr.decode())


def test_deeply_nested_label_names_names_the_file(pngset, deep_json):
    r = run(*pngset, "--label-names", deep_json)
    assert r.exit_code == ExitStatus.USAGE and "Traceback" not in r.stderr
    error = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert len(error) == 1 and str(deep_json) in error[0] and "nested too deeply" in error[0]
