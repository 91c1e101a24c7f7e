"""--junit FILE: parsed back with xml.etree and checked against the common JUnit schema shape.

The shape is the one GitLab, Jenkins (JUnit plugin) and GitHub test reporters read:
<testsuites> holding <testsuite name tests failures errors skipped> holding
<testcase classname name> with at most one <failure message type>, <error>, <skipped>.
"""

import json
import xml.etree.ElementTree as ET

import pytest
from helpers import run

from dicecli.errors import ExitStatus
from dicecli.report.junit import _clean

ALLOWED = {
    "testsuites": {"name", "tests", "failures", "errors", "skipped", "time", "disabled"},
    "testsuite": {"name", "tests", "failures", "errors", "skipped", "time", "timestamp", "hostname", "id",
                  "package", "disabled"},
    "properties": set(),
    "property": {"name", "value"},
    "testcase": {"name", "classname", "time", "assertions", "status"},
    "failure": {"message", "type"},
    "error": {"message", "type"},
    "skipped": {"message"},
    "system-out": set(),
}
CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out"},
    "properties": {"property"},
    "testcase": {"failure", "error", "skipped", "system-out"},
}


def validate(root):
    """Assert the common JUnit shape and that every count attribute matches the content."""
    assert root.tag == "testsuites"
    for node in root.iter():
        assert node.tag in ALLOWED, node.tag
        assert set(node.attrib) <= ALLOWED[node.tag], (node.tag, node.attrib)
        assert {child.tag for child in node} <= CHILDREN.get(node.tag, set()), node.tag
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "dice"
    suite = suites[0]
    cases = suite.findall("testcase")
    for case in cases:
        assert case.get("name") and case.get("classname")
        outcome = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        assert len(outcome) <= 1
    count = {tag: sum(1 for c in cases if c.find(tag) is not None) for tag in ("failure", "error", "skipped")}
    for node in (root, suite):
        assert int(node.get("tests")) == len(cases)
        assert int(node.get("failures")) == count["failure"]
        assert int(node.get("errors")) == count["error"]
    assert int(suite.get("skipped")) == count["skipped"]
    return {(c.get("classname"), c.get("name")): c for c in cases}


def junit(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return validate(ET.fromstring(text.encode("utf-8")))


def test_one_testcase_per_class_gate(pngset, tmp_path):
    out = tmp_path / "dice.xml"
    r = run(*pngset, "--min-dice", "0.45,2=0.1", "--junit", out)
    assert r.exit_code == ExitStatus.GATE_FAILED
    cases = junit(out)
    assert set(cases) == {("dice.gate", "class 1: mean >= 0.45"), ("dice.gate", "class 2: mean >= 0.1")}
    assert cases["dice.gate", "class 1: mean >= 0.45"].find("failure") is None
    failure = cases["dice.gate", "class 2: mean >= 0.1"].find("failure")
    assert failure.get("message") == "class 2 mean Dice 0.0000 < 0.1"
    assert "worst cases:\nb: 0.0000" in failure.text


def test_passing_gate_has_no_failures(pngset, tmp_path):
    out = tmp_path / "dice.xml"
    assert run(*pngset, "--labels", "1", "--min-dice", "0.5", "--junit", out).exit_code == 0
    root = ET.parse(out).getroot()
    validate(root)
    assert root.get("tests") == "1" and root.get("failures") == "0"


def test_gate_on_cases_adds_a_testcase_per_case(pngset, tmp_path):
    out = tmp_path / "dice.xml"
    r = run(*pngset, "--min-dice", "0.4", "--gate-on", "cases", "--junit", out)
    assert r.exit_code == ExitStatus.GATE_FAILED
    cases = junit(out)
    assert len(cases) == 2 + 2 * 3  # 2 class checks + 3 cases x 2 classes
    assert cases["dice.gate", "class 1: every case >= 0.4"].find("failure") is not None
    assert cases["dice.gate", "class 1: case a >= 0.4"].find("failure") is None
    assert cases["dice.gate", "class 1: case c >= 0.4"].find("failure").get("message") == \
        "class 1 case c Dice 0.0000 < 0.4"
    skipped = cases["dice.gate", "class 2: case a >= 0.4"].find("skipped")
    assert skipped is not None and "undefined" in skipped.get("message")
    assert ET.parse(out).getroot().find("testsuite").get("skipped") == "2"


def test_baseline_checks_and_undefined_named_class(pngset, tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"cases": [{"case": c, "classes": {"1": {"dice": v}}}
                                          for c, v in (("a", 0.6), ("b", 1.0), ("c", 0.2))]}))
    out = tmp_path / "dice.xml"
    r = run(*pngset, "--min-dice", "1=0.4,liver=0.9", "--baseline", base, "--max-drop", "0.05", "--junit", out)
    assert r.exit_code == ExitStatus.GATE_FAILED
    cases = junit(out)
    drop = cases["dice.baseline", "class 1: mean drop <= 0.05"].find("failure")
    assert "drop 0.1000 > 0.05" in drop.get("message") and "c: 0.2000 -> 0.0000" in drop.text
    absent = cases["dice.gate", "class liver: mean >= 0.9"].find("failure")
    assert "not in the run" in absent.get("message")


def test_input_errors_are_errors_not_failures(pngset, tmp_path):
    gt, pred = pngset
    (pred / "b.png").unlink()
    out = tmp_path / "dice.xml"
    r = run(gt, pred, "--labels", "1", "--min-dice", "0.0", "--junit", out)
    assert r.exit_code == ExitStatus.INPUT_ERROR
    cases = junit(out)
    error = cases["dice.input", "case b: scored"].find("error")
    assert "no prediction for case 'b'" in error.text
    root = ET.parse(out).getroot()
    assert root.get("failures") == "0" and root.get("errors") == "1"


def test_junit_refuses_inputs_and_clashes(pngset, tmp_path):
    gt, pred = pngset
    before = (pred / "a.png").read_bytes()
    r = run(gt, pred, "--min-dice", "0.5", "--junit", pred / "a.png")
    assert r.exit_code == ExitStatus.USAGE and "over an input" in r.stderr
    assert (pred / "a.png").read_bytes() == before
    same = tmp_path / "same.out"
    r = run(gt, pred, "--json", same, "--junit", same)
    assert r.exit_code == ExitStatus.USAGE and "same file" in r.stderr


def test_junit_written_atomically(pngset, tmp_path, monkeypatch):
    import dicecli.io.outputs

    out = tmp_path / "dice.xml"
    out.write_text("previous")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dicecli.io.outputs.os, "replace", broken_replace)
    assert run(*pngset, "--min-dice", "0.5", "--junit", out).exit_code != 0
    assert out.read_text() == "previous"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("text, expected", [("ok <&>", "ok <&>"), ("bad\x01\x1f", "bad\ufffd\ufffd"),
                                            ("tab\tnl\n", "tab\tnl\n")])
def test_text_cleaned_for_xml(text, expected):
    assert _clean(text) == expected
