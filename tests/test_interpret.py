"""Label map vs probability map: the rules of dicecli.core.interpret."""

import numpy as np
import pytest

from dicecli.errors import ValueKindError
from dicecli.core.interpret import LABELS, PROBABILITY, exact_threshold, to_labels


def test_integer_maps_are_labels_unchanged():
    a = np.array([[0, 3], [255, 1]], dtype=np.uint8)
    out, kind = to_labels(a, threshold=0.5, allow_probability=True)
    assert kind == LABELS and out is a


def test_float_whole_numbers_are_labels_in_a_small_dtype():
    a = np.array([0.0, 2.0, 1.0], dtype=np.float32)
    out, kind = to_labels(a, threshold=0.5, allow_probability=False)
    assert kind == LABELS and out.dtype == np.uint8 and out.tolist() == [0, 2, 1]
    big = np.array([0.0, 300.0], dtype=np.float64)
    assert to_labels(big, threshold=0.5, allow_probability=False)[0].dtype == np.uint16


def test_probability_threshold_is_inclusive_and_exact():
    below = np.nextafter(np.float32(0.5), np.float32(0))
    p = np.array([0.0, below, 0.5, 0.7, 1.0], dtype=np.float32)
    out, kind = to_labels(p, threshold=0.5, allow_probability=True)
    assert kind == PROBABILITY and out.tolist() == [0, 0, 1, 1, 1]
    # 0.3 is not a float32: the float32 nearest 0.3 is above it and counts; the one below does not.
    t32 = np.float32(0.3)
    lower = np.nextafter(t32, np.float32(0)) if float(t32) > 0.3 else t32
    q = np.array([lower, np.nextafter(lower, np.float32(1)), 0.25], dtype=np.float32)
    expected = [1 if float(v) >= 0.3 else 0 for v in q.tolist()]
    assert to_labels(q, threshold=0.3, allow_probability=True)[0].tolist() == expected
    assert float(exact_threshold(0.3, np.float32)) >= 0.3


@pytest.mark.parametrize(
    "values, needle",
    [([0.2, np.nan], "NaN"), ([0.2, np.inf], "infinite"), ([0.5, 1.5], "neither"), ([-0.5, 0.2], "neither"),
     ([-1.0, 2.0], "negative")],
)
def test_nonsense_values_are_errors(values, needle):
    with pytest.raises(ValueKindError, match=needle):
        to_labels(np.array(values, dtype=np.float32), threshold=0.5, allow_probability=True)


def test_ground_truth_must_be_a_label_map():
    with pytest.raises(ValueKindError, match="ground truth"):
        to_labels(np.array([0.2, 0.9], dtype=np.float32), threshold=0.5, allow_probability=False)


def test_negative_integer_labels_are_errors():
    with pytest.raises(ValueKindError, match="negative"):
        to_labels(np.array([0, -1], dtype=np.int16), threshold=0.5, allow_probability=True)


def test_placed_is_replace_of_the_axis_fields():
    import dataclasses

    from dicecli.core.interpret import Interpretation

    meaning = Interpretation("probability", 255.0)
    assert meaning.placed(0, True, True) == dataclasses.replace(meaning, channel_axis=0, axes_reversed=True,
                                                                axes_unchecked=True)
    # a new field must be carried by placed() too
    assert [f.name for f in dataclasses.fields(Interpretation)] == [
        "kind", "scale", "channel_axis", "axes_reversed", "axes_unchecked"]
