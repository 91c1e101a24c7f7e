"""The plain-data form of an Evaluation, shared by the JSON and CSV reporters.

Undefined values are None (JSON null, empty CSV cell), never NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import numpy as np

from .. import __version__
from ..core.aggregate import ClassSummary
from .json_text import Encoded, EncodedObject, column_texts, compact, record_template, record_texts, string
from .object_records import case_class_fields, has_objects, object_settings, summary_class_fields
if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..run.evaluate import Evaluation

SCHEMA = 1
METRIC = "hard_dice"


def number(value) -> float | None:
    """A float, or None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def class_key(label: int) -> str:
    return str(int(label))


def _stats(s) -> dict:
    """A ClassSummary as a dict (summaries hold Python floats, already None where undefined)."""
    return s._asdict()


def _classes_setting(run: Evaluation, encoded: bool):
    """settings.classes: a record per class (encoded: as one line of JSON text)."""
    if encoded:
        columns: list[list] = [[c.key for c in run.classes], [list(c.labels) for c in run.classes],
                               [c.region for c in run.classes]]
        return Encoded("[" + ", ".join(record_texts(["key", "labels", "region"], columns)) + "]")
    return [{"key": c.key, "labels": list(c.labels), "region": c.region} for c in run.classes]


def settings_record(run: Evaluation, *, encoded: bool = False) -> dict:
    """The settings block (encoded: big tables as JSON text, for the JSON writer)."""
    s = run.settings
    return {
        "metric": METRIC,
        "threshold": s.threshold,
        "smooth": s.smooth,
        "empty_both": s.empty_both,
        "labels": list(run.labels),
        "labels_requested": None if s.labels is None else [int(v) for v in s.labels],
        "include_background": s.include_background,
        "missing_as_empty": s.missing_as_empty,
        "geometry": s.geometry,
        "thresholds": {class_key(label): t for label, t in s.thresholds},
        "pred_kind": s.pred_kind,
        "prob_scale": s.prob_scale,
        "channel_axis": s.channel_axis,
        "axis_order": s.axis_order,
        "pred_suffix": s.pred_suffix,
        "recursive": s.recursive,
        "gt_pattern": s.gt_pattern,
        "pred_pattern": s.pred_pattern,
        "region_labels": list(s.region_labels),
        "multilabel": s.multilabel,
        "ignore_label": s.ignore_label,
        "regions": {name: list(members) for name, members in s.regions},
        "label_names": {name: value for name, value in s.label_names},
        "classes": _classes_setting(run, encoded),
        "metrics": list(s.metrics),
        "soft": s.soft,
        **object_settings(s),
        **({"boundary": boundary_settings(s)} if s.boundary_metrics else {}),
    }


#: What the boundary metrics measure, per convention (echoed in JSON settings).
CONVENTION_TEXT = {
    "voxel": "boundary voxels (mask minus its face-connected erosion, outside the image = background), "
             "distances in mm between voxel centres; hd95 = max of the two directed 95th percentiles "
             "(numpy linear interpolation); assd = mean of both directed distance sets pooled; "
             "masd = (mean gt->pred + mean pred->gt) / 2",
    "medpy": "as voxel, but hd95 = 95th percentile of both directed distance sets pooled (MedPy)",
    "deepmind": "surfels on the voxel-corner grid weighted by their area (DeepMind surface-distance): "
                "hd95 = max of the two directed area-weighted 95th percentiles (no interpolation); "
                "assd = area-weighted mean of both directions pooled; masd = mean of the two directed "
                "area-weighted means",
}


def boundary_settings(s) -> dict:
    """The conventions behind hd, hd95, assd, masd and nsd, as JSON-ready data."""
    return {
        "convention": s.surface_convention,
        "definition": CONVENTION_TEXT[s.surface_convention],
        "nsd": "surface Dice at tolerance: surfels (voxel-corner grid, area-weighted) of both masks within "
               "the tolerance of the other surface / all surfels (DeepMind surface-distance)",
        "nsd_tolerance_mm": {"default": s.nsd_tolerance, "classes": dict(s.nsd_tolerances)},
        "spacing_mm": None if s.spacing is None else list(s.spacing),
        "spacing_source": "each ground truth's own spacing (NIfTI pixdim, per array axis); files without one: "
                          + ("--spacing" if s.spacing is not None else "1 mm per axis"),
        "units": "mm",
        "empty": {"both": "hd, hd95, assd, masd null; nsd per empty_both",
                  "one": "hd, hd95, assd, masd " + ("null" if s.empty_distance == "nan" else
                                                    "the image diagonal in mm" if s.empty_distance == "diagonal"
                                                    else f"{s.empty_distance:g} mm") + "; nsd 0"},
        "empty_distance": s.empty_distance if isinstance(s.empty_distance, float) else
        (None if s.empty_distance == "nan" else s.empty_distance),
    }


def volume_mm3(value) -> float | None:
    """A volume rounded to 12 significant digits (drops float noise such as 1550.4000000000003)."""
    value = number(value)
    return None if value is None else float(f"{value:.12g}")


def volume_ml(mm3) -> float | None:
    value = number(mm3)
    return None if value is None else float(f"{value / 1000.0:.12g}")


def _number_rows(table) -> list[list]:
    """A (cases x classes) table as lists of Python floats, None where undefined (one tolist for
    the whole table: runs can have tens of thousands of cases)."""
    values = np.asarray(table, dtype=np.float64)
    rows = values.tolist()
    for r, c in zip(*np.nonzero(~np.isfinite(values))):
        rows[r][c] = None
    return rows


#: Cases whose records are made from one slice of the tables at a time (bounds the Python objects
#: alive at once whatever the number of cases).
BLOCK_CASES = 1024
#: Fields of a case record taken from the run's cases, in record order.
_CASE_FIELDS = ("case", "gt", "pred", "pred_kind", "prob_scale", "axes_reversed", "n_voxels", "n_ignored",
                "voxel_volume_mm3", "boundary")


def case_records(run: Evaluation) -> list[dict]:
    """One record per case, each with a record per class (see iter_case_records)."""
    return list(iter_case_records(run))


def iter_case_records(run: Evaluation, block: int | None = None, *, encoded: bool = False):
    """One record per case, in case order, each with a record per class: made from the tables
    ``block`` (default BLOCK_CASES) cases at a time (runs can have 100,000 cases or tens of
    thousands of classes, and a writer streams the records: only one block's records exist at once).
    encoded: each record as an Encoded line of JSON (for the JSON writer; no dict per class)."""
    block = block or BLOCK_CASES
    for start in range(0, len(run.cases), block):
        yield from _case_block(run, start, min(start + block, len(run.cases)), encoded)


def _case_head(run: Evaluation, info: dict, i: int) -> dict:
    """A case record without its classes (``info``: the block's _CASE_FIELDS, ``i``: the case in it)."""
    record = {"case": info["case"][i], "gt": info["gt"][i], "pred": info["pred"][i],
              "pred_kind": info["pred_kind"][i], "prob_scale": info["prob_scale"][i],
              "axes_reversed": info["axes_reversed"][i],
              "n_voxels": int(info["n_voxels"][i]), "n_ignored": int(info["n_ignored"][i]),
              "voxel_volume_mm3": volume_mm3(info["voxel_volume_mm3"][i])}
    boundary = info["boundary"][i]
    if boundary is not None:
        record.update(spacing_mm=list(boundary.spacing_mm), spacing_source=boundary.spacing_source,
                      diagonal_mm=number(boundary.diagonal_mm))
    return record


def _volume_columns(run: Evaluation, row: int) -> dict[str, list]:
    """A case's volumes per class (only where its spacing is known)."""
    gt_mm3, pred_mm3 = run.gt_volume_mm3[row].tolist(), run.pred_volume_mm3[row].tolist()  # type: ignore[index]  # set: spacing known
    return dict(gt_volume_mm3=[volume_mm3(v) for v in gt_mm3], pred_volume_mm3=[volume_mm3(v) for v in pred_mm3],
                gt_volume_ml=[volume_ml(v) for v in gt_mm3], pred_volume_ml=[volume_ml(v) for v in pred_mm3])


def _block_tables(run: Evaluation, start: int, stop: int) -> dict[str, list[list]]:
    rows = slice(start, stop)
    tables = {"dice": _number_rows(run.dice[rows]), "tp": run.tp[rows].tolist(), "fp": run.fp[rows].tolist(),
              "fn": run.fn[rows].tolist(), "status": run.status[rows].tolist()}
    tables.update((name, _number_rows(table[rows])) for name, table in run.metrics.items())
    return tables


def _case_block(run: Evaluation, start: int, stop: int, encoded: bool = False):
    if encoded and not has_objects(run):
        yield from _encoded_case_block(run, start, stop)
        return
    keys = run.keys
    tables = _block_tables(run, start, stop)
    info = {name: run.cases.values(name, start, stop) for name in _CASE_FIELDS}
    for i, row in enumerate(range(start, stop)):
        columns = {name: table[i] for name, table in tables.items()}
        if info["voxel_volume_mm3"][i] is not None:
            columns.update(_volume_columns(run, row))
        names = list(columns)
        classes = {key: dict(zip(names, cells)) for key, cells in zip(keys, zip(*columns.values()))}
        if has_objects(run):
            for class_record, fields in zip(classes.values(), case_class_fields(run, row)):
                class_record.update(fields)
        record = {**_case_head(run, info, i), "classes": classes}
        yield Encoded(compact(record)) if encoded else record


def _encoded_case_block(run: Evaluation, start: int, stop: int):
    """_case_block's records as JSON text: each table of the block converted to text in one pass,
    then one template per record (the same text as encoding the records one by one)."""
    tables = _block_tables(run, start, stop)
    info = {name: run.cases.values(name, start, stop) for name in _CASE_FIELDS}
    prefixes = [string(key) + ": " for key in run.keys]
    k = len(prefixes)
    texts = [column_texts([cell for row in table for cell in row]) for table in tables.values()]
    names = list(tables)
    template = record_template(names)
    for i, row in enumerate(range(start, stop)):
        cells = [column[i * k:(i + 1) * k] for column in texts]
        if info["voxel_volume_mm3"][i] is None:
            classes = [template.format(*member) for member in zip(*cells)]
        else:
            volumes = _volume_columns(run, row)
            cells += [column_texts(column) for column in volumes.values()]
            with_volumes = record_template(names + list(volumes))
            classes = [with_volumes.format(*member) for member in zip(*cells)]
        head = compact(_case_head(run, info, i))
        yield Encoded(head[:-1] + ', "classes": {' + ", ".join(map(str.__add__, prefixes, classes)) + "}}")


class LazyRows:
    """A JSON array made as it is written: ``len()`` and iteration (each time anew) of records
    a factory yields. json_report writes it member by member; never a list in memory."""

    def __init__(self, length: int, make) -> None:
        self.length, self.make = length, make

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(self.make())


def _summary_classes(run: Evaluation, encoded: bool):
    """summary.classes: a record of statistics per class (encoded: JSON text per class, made from
    the columns of the statistics, when no class has metric or object fields)."""
    if encoded and not run.metric_summaries and not has_objects(run):
        columns = [list(column) for column in zip(*run.summary.classes)]  # none without classes: no records
        return EncodedObject(list(run.keys), record_texts(list(ClassSummary._fields), columns))
    classes = {}
    for col, (key, s) in enumerate(zip(run.keys, run.summary.classes)):
        record = _stats(s)
        if run.metric_summaries:
            record["metrics"] = {name: _stats(per_class[col]) for name, per_class in run.metric_summaries.items()}
        if has_objects(run):
            record.update(summary_class_fields(run, col))
        classes[key] = record
    return classes


def summary_record(run: Evaluation, *, encoded: bool = False) -> dict:
    """The summary block (encoded: big tables as JSON text, for the JSON writer)."""
    return {
        "classes": _summary_classes(run, encoded),
        "mean": number(run.summary.mean),
        "pooled": number(run.summary.pooled),
        "n_cases": len(run.cases),
        "n_errors": len(run.errors),
        "pred_kinds": run.pred_kinds,
    }


def run_record(run: Evaluation, *, settings_extra: dict | None = None, extra: dict | None = None,
               lazy: bool = False) -> dict:
    """The whole run as JSON-ready data (the JSON contract of DESIGN.md).

    settings_extra: more "settings" fields (e.g. the gate options); extra: more top-level
    fields (e.g. the "gate" verdict), added after the standard ones. lazy (for the JSON writer):
    "cases" is a LazyRows (records made as they are written) instead of a list, and the big tables
    (case records, summary and settings classes) are JSON text already (json_text.Encoded).
    """
    return {
        "schema": SCHEMA,
        "tool": {"name": "dicecli", "version": __version__},
        "settings": {**settings_record(run, encoded=lazy), **(settings_extra or {})},
        "cases": LazyRows(len(run.cases), lambda: iter_case_records(run, encoded=True)) if lazy else case_records(run),
        "summary": summary_record(run, encoded=lazy),
        "errors": [{"case": e.case, "path": e.path, "message": e.message} for e in run.errors],
        "warnings": list(run.warnings),
        **(extra or {}),
    }
