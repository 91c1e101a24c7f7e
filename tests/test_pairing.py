"""Pairing by case name: formats may differ, nothing is dropped silently."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicecli.errors import PairingError, UsageError
from dicecli.io.pairing import pair_folders, pair_paths


def touch(folder, *names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_pairs_across_formats_and_reports_the_rest(tmp_path):
    touch(tmp_path / "gt", "a.nii.gz", "b.png", "c.tif", ".hidden.png", "notes.txt", "d.nii")
    touch(tmp_path / "pred", "a.nii", "b.PNG", "c.tiff", "x.png", "d.nii", "d.nii.gz")
    (tmp_path / "gt" / "sub").mkdir()
    p = pair_folders(str(tmp_path / "gt"), str(tmp_path / "pred"))
    assert [(x.case, x.pred is not None) for x in p.pairs] == [("a", True), ("b", True), ("c", True)]
    assert p.pairs[1].pred.endswith("b.PNG")
    assert [case for case, _ in p.duplicates] == ["d"]
    assert p.extra == (str(tmp_path / "pred" / "x.png"),)
    assert sorted(p.ignored) == sorted([str(tmp_path / "gt" / "notes.txt"), str(tmp_path / "gt" / "sub")])


def test_missing_predictions_are_listed(tmp_path):
    touch(tmp_path / "gt", "a.png", "b.png")
    touch(tmp_path / "pred", "a.png")
    p = pair_folders(str(tmp_path / "gt"), str(tmp_path / "pred"))
    assert p.missing == ("b",)
    assert [x.pred is None for x in p.pairs] == [False, True]


def test_names_with_spaces_and_non_ascii(tmp_path):
    touch(tmp_path / "gt", "case é 1.nii.gz")
    touch(tmp_path / "pred", "case é 1.png")
    assert [x.case for x in pair_folders(str(tmp_path / "gt"), str(tmp_path / "pred")).pairs] == ["case é 1"]


def test_empty_and_missing_folders_are_input_errors(tmp_path):
    touch(tmp_path / "gt")
    touch(tmp_path / "pred")
    with pytest.raises(PairingError, match="no ground-truth masks"):
        pair_folders(str(tmp_path / "gt"), str(tmp_path / "pred"))
    with pytest.raises(PairingError, match="no such"):
        pair_paths(str(tmp_path / "nope"), str(tmp_path / "nope2"))


def test_two_files_and_mixed_arguments(tmp_path):
    touch(tmp_path, "ct_1.nii.gz", "p.nii.gz")
    p = pair_paths(str(tmp_path / "ct_1.nii.gz"), str(tmp_path / "p.nii.gz"))
    assert [(x.case, x.pred) for x in p.pairs] == [("ct_1", str(tmp_path / "p.nii.gz"))]
    with pytest.raises(UsageError):
        pair_paths(str(tmp_path), str(tmp_path / "p.nii.gz"))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "B", ".", "nii", "gz", "seg", "nrrd", "png", "tif", "TIFF", "npz", "mgz",
                                 "hdr", "img", "raw", "ome", "tiff", "x"]), max_size=7))
def test_split_suffix_takes_the_longest_listed_suffix(parts):
    """split_suffix equals a plain reading of its rule: the longest listed suffix (any case) that
    leaves a non-empty name."""
    from dicecli.io.readers import SUFFIXES, split_suffix

    name = "".join(parts)
    found = [s for s in SUFFIXES if name.lower().endswith(s) and len(name) > len(s)]
    want = None
    if found:
        suffix = max(found, key=len)
        want = (name[: -len(suffix)], name[-len(suffix):])
    assert split_suffix(name) == want


def test_ome_tiff_pairs_with_any_format_by_its_case_name(tmp_path):
    # OME-TIFF's suffix is ".ome.tif": "img01.ome.tif" is case "img01" and pairs with "img01.png".
    from dicecli.io.readers import case_name

    assert case_name("img01.ome.tif") == "img01" and case_name("B.OME.TIFF") == "B"
    touch(tmp_path / "gt", "img01.png", "img02.png")
    touch(tmp_path / "pred", "img01.ome.tif", "img02.ome.tiff")
    p = pair_paths(str(tmp_path / "gt"), str(tmp_path / "pred"))
    assert [(x.case, os.path.basename(x.pred)) for x in p.pairs] == [("img01", "img01.ome.tif"),
                                                                    ("img02", "img02.ome.tiff")]
