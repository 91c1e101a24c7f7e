"""JSON text made from columns (report/json_text) against the json module's own encoding, and the
JSON writer's pre-encoded tables against the same document written from plain records."""

from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dicecli.report import json_report
from dicecli.report.json_text import Encoded, column_texts, compact, record_texts
from dicecli.report.records import run_record
from dicecli.run.evaluate import evaluate

from helpers import png


def write_nifti(path, array, spacing):
    image = nib.Nifti1Image(array, np.diag([*spacing, 1.0]))
    nib.save(image, str(path))

_finite = st.floats(allow_nan=False, allow_infinity=False)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), _finite, st.text(max_size=8))
_cell = st.one_of(_scalar, st.lists(st.integers(-5, 2**40), max_size=4), st.lists(_scalar, max_size=3))


def _reference(record) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=5, unique=True), st.data())
def test_record_texts_equal_json_dumps(names, data):
    rows = data.draw(st.integers(0, 6))
    kinds = [data.draw(st.sampled_from(["int", "float", "str", "bool", "ints", "any"])) for _ in names]
    strategy = {"int": st.integers(-2**70, 2**70), "float": st.one_of(st.none(), _finite),
                "str": st.text(max_size=8), "bool": st.booleans(),
                "ints": st.lists(st.integers(0, 2**40), max_size=4), "any": _cell}
    columns = [data.draw(st.lists(strategy[kind], min_size=rows, max_size=rows)) for kind in kinds]
    texts = record_texts(names, columns)
    assert texts == [_reference(dict(zip(names, row))) for row in zip(*columns)]
    for text, row in zip(texts, zip(*columns)):
        assert json.loads(text) == dict(zip(names, row))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused_like_the_encoder(bad):
    with pytest.raises(ValueError):
        column_texts([0.5, bad, None])
    with pytest.raises(ValueError):
        compact({"x": bad})


def test_pre_encoded_text_inside_a_compact_line_is_refused():
    # it would otherwise be written as a quoted string, silently
    with pytest.raises(TypeError):
        compact({"classes": Encoded("{}")})


def _runs(tmp_path):
    """Runs whose records take each of the writer's paths: plain, metrics, objects, boundary, none."""
    rng = np.random.default_rng(3)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for i in range(3):
        gt = np.zeros((12, 14, 9), np.uint8)
        gt[2:8, 3:10, 2:7] = 1
        gt[7:11, 1:5, 1:4] = 2
        pred = np.where(rng.random(gt.shape) < 0.1, rng.integers(0, 4, gt.shape), gt).astype(np.uint8)
        write_nifti(tmp_path / "gt" / f"c{i}.nii.gz", gt, spacing=(0.8, 0.8, 2.5))
        write_nifti(tmp_path / "pred" / f"c{i}.nii.gz", pred, spacing=(0.8, 0.8, 2.5))
    for i in range(2):
        png(tmp_path / "g2" / f"x{i}.png", np.arange(30).reshape(5, 6) % 3)
        png(tmp_path / "p2" / f"x{i}.png", np.arange(30).reshape(5, 6) % 4)
    gt, pred = str(tmp_path / "gt"), str(tmp_path / "pred")
    yield evaluate(gt, pred)
    yield evaluate(gt, pred, metrics=("iou", "precision"))
    yield evaluate(gt, pred, connected_components=True)
    yield evaluate(gt, pred, labels=(7,))
    yield evaluate(str(tmp_path / "g2"), str(tmp_path / "p2"), label_names=(("a\"b{c}", 1), ("ü", 2)))


def test_json_writer_equals_the_document_of_plain_records(tmp_path):
    for run in _runs(tmp_path):
        plain = "".join(json_report._render(run_record(run), 0)) + "\n"
        assert json_report.render_json(run) == plain
        json.loads(plain)


def test_repeated_floats_and_signed_zeros_keep_their_own_text():
    column = [0.0, -0.0, 0.1, -0.0, 0.0, 0.1, 1e-320, 1e-320, None, 2.5e16]
    assert column_texts(column) == [json.dumps(v) for v in column]
    assert column_texts(column) == [json.dumps(v) for v in column]  # the second time from the kept texts
