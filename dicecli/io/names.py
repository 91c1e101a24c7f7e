"""Parse the label options: names, regions and per-class thresholds.

Text forms (command line) and JSON forms (a names file) are turned into plain
tuples that Settings keeps; every problem is a ValueError with a one-line reason.

- ``--label-names liver=1,spleen=2``, or a JSON file: ``{"liver": 1, "spleen": 2}``,
  nnU-Net v2 ``dataset.json`` (its ``labels`` section, ``{"name": value}``, where a
  list value is a region), or nnU-Net v1 (``{"0": "background", "1": "liver"}``).
  In a file that defines regions (a list of two or more labels, nnU-Net's rule),
  every entry but background is a region, as nnU-Net evaluates it:
  ``"enhancing tumor": 3`` is the region {3}. An ``"ignore"`` entry names the
  ignore label. A dataset.json's ``regions_class_order`` (the label each region
  channel paints) is kept: it says how to read region-based probability files.
- ``--region NAME=1,2,3``: a union of labels scored like a class.
- ``--threshold 0.5``, ``1=0.4,2=0.6`` or ``0.5,2=0.6`` (default plus overrides).
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from dataclasses import dataclass

from ..core.keys import parse_keyed

BACKGROUND = "background"


@dataclass(frozen=True)
class LabelNames:
    """Names of labels, regions defined by a names file, and its ignore label."""

    names: tuple[tuple[str, int], ...] = ()
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    ignore: int | None = None
    region_order: tuple[int, ...] = ()


def parse_label(text, where: str) -> int:
    """A label value >= 0 from an int, a whole float (2.0, never 1.5 -> 1) or its text; ValueError
    naming ``where`` otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{where}: expected a whole-number label >= 0, got {text!r}")
    if isinstance(text, numbers.Integral):  # int, numpy integers
        value = operator.index(text)
    elif isinstance(text, numbers.Real) and float(text).is_integer():  # 2.0, numpy floats; never 1.5 -> 1
        value = int(float(text))
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ValueError(f"{where}: expected a whole-number label >= 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{where}: labels must be >= 0, got {value}")
    return value


def _name(text: str, where: str) -> str:
    name = " ".join(str(text).split())
    if not name:
        raise ValueError(f"{where}: empty name")
    if name.lstrip("-").isdigit():
        raise ValueError(f"{where}: a name cannot be a number ({name!r}); numbers are label values")
    return name


def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    out = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"expected {what}, got {part.strip()!r}")
        key, value = part.split("=", 1)
        out.append((key.strip(), value.strip()))
    if not out:
        raise ValueError(f"expected {what}, got {text!r}")
    return out


def _check_unique(names, regions) -> None:
    seen: dict[str, str] = {}
    for name, value in list(names) + list(regions):
        if name in seen:
            raise ValueError(f"name {name!r} is given twice")
        seen[name] = value
    by_label: dict[int, str] = {}
    for name, value in names:
        if value in by_label:
            raise ValueError(f"label {value} has two names: {by_label[value]!r} and {name!r}")
        by_label[value] = name


def parse_label_names(text: str) -> LabelNames:
    """``"liver=1,spleen=2"`` -> LabelNames(names=(("liver", 1), ("spleen", 2)))."""
    names = tuple((_name(k, "--label-names"), parse_label(v, f"--label-names {k}")) for k, v in
                  _pairs(text, "NAME=LABEL pairs such as liver=1,spleen=2"))
    _check_unique(names, ())
    return LabelNames(names=names)


def names_from_json(data) -> LabelNames:
    """Names (and regions) from a decoded JSON document; see the module docstring."""
    order = ()
    if isinstance(data, dict) and isinstance(data.get("labels"), dict):
        order = data.get("regions_class_order") or ()
        data = data["labels"]
    if not isinstance(data, dict) or not data:
        raise ValueError('expected a JSON object of {"name": label} (or a dataset.json with a "labels" object)')
    if all(str(k).strip().isdigit() and isinstance(v, str) for k, v in data.items()):
        data = {v: int(k) for k, v in data.items()}  # nnU-Net v1: {"1": "liver"}
    entries: list[tuple[str, tuple[int, ...], bool]] = []  # (key, labels, given as a list)
    for key, value in data.items():
        where = f"label {key!r}"
        if isinstance(value, list):
            if not value:
                raise ValueError(f"{where}: an empty list of labels")
            entries.append((key, tuple(sorted({parse_label(v, where) for v in value})), True))
        else:
            entries.append((key, (parse_label(value, where),), False))
    ignore = None
    names: list[tuple[str, int]] = []
    regions: list[tuple[str, tuple[int, ...]]] = []
    region_based = any(is_list and len(labels) > 1 for _, labels, is_list in entries)
    for key, labels, is_list in entries:
        if str(key).strip().lower() == "ignore" and not is_list:
            ignore = labels[0]
            continue
        name = _name(key, f"label {key!r}")
        # [3] is label 3 (a region {3} in a region-based file)
        if is_list and len(labels) > 1:
            regions.append((name, labels))
        elif region_based and labels[0] != 0:
            regions.append((name, labels))
        else:
            names.append((name, labels[0]))
    _check_unique(names, regions)
    for name, labels in regions:
        _check_region(name, labels)
    return LabelNames(names=tuple(names), regions=tuple(regions), ignore=ignore,
                      region_order=_region_order(order, len(regions)) if region_based else ())


def _region_order(order, n_regions: int) -> tuple[int, ...]:
    """nnU-Net's ``regions_class_order``: one label per region, painted in region order."""
    if not isinstance(order, list) or not order:
        return ()
    values = tuple(parse_label(v, "regions_class_order") for v in order)
    if len(values) != n_regions:
        raise ValueError(f"regions_class_order has {len(values)} entries for {n_regions} regions")
    return values


def load_label_names(path: str) -> LabelNames:
    """Read a names file (JSON). Raises OSError or ValueError."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return names_from_json(data)


def _check_region(name: str, labels: tuple[int, ...]) -> None:
    if 0 in labels:
        raise ValueError(f"region {name!r} contains label 0; a region is a union of foreground labels")


def region(name, labels) -> tuple[str, tuple[int, ...]]:
    """A checked region: (name, sorted unique labels); ValueError for an empty or background region."""
    name = _name(name, f"region {name!r}")
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        labels = [labels]
    members = tuple(sorted({parse_label(v, f"region {name!r}") for v in labels}))
    if not members:
        raise ValueError(f"region {name!r}: no labels")
    _check_region(name, members)
    return name, members


def parse_region(text: str) -> tuple[str, tuple[int, ...]]:
    """``"WT=1,2,3"`` -> ("WT", (1, 2, 3))."""
    if "=" not in str(text):
        raise ValueError(f"expected NAME=LABEL,LABEL,... such as WT=1,2,3, got {text!r}")
    key, values = str(text).split("=", 1)
    return region(key, [v for v in values.split(",") if v.strip()])


def parse_regions(texts) -> tuple[tuple[str, tuple[int, ...]], ...]:
    regions = tuple(parse_region(t) for t in texts)
    _check_unique((), regions)
    return regions


def _probability(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a threshold in [0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{where}: a threshold must be within [0, 1], got {text!r}")
    return value


def parse_thresholds(text: str) -> tuple[float | None, tuple[tuple[str, float], ...]]:
    """``"0.5"``, ``"1=0.4,2=0.6"`` or ``"0.5,2=0.6"`` -> (default or None, ((class, t), ...))."""
    return parse_keyed(text, option="--threshold", parse_value=_probability,
                       example="a threshold such as 0.5 or 1=0.4,2=0.6")


def resolve_label(key: str, names: tuple[tuple[str, int], ...], where: str) -> int:
    """A class key given on the command line: a label value or a label name."""
    for name, value in names:
        if name == key:
            return value
    try:
        return parse_label(key, where)
    except ValueError:
        raise ValueError(f"{where}: {key!r} is neither a label value nor a label name") from None
