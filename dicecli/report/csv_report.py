"""Tidy long CSV: one row per (case, class), header first; undefined values are empty cells.

Columns: case,class,dice,tp,fp,fn,status,gt,pred,pred_kind (fixed), then the
metrics asked for with --metrics, soft_dice with --soft, and, when any case
has a known spacing (NIfTI), the volumes (gt/pred in mm3 and mL; empty cells
for cases without spacing); then the object columns (obj_n_gt, obj_n_pred, and
obj_tp@T ... obj_rq@T for each IoU threshold T) and the lesion columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import csv
import io

from .object_records import csv_cells, csv_columns, has_objects
if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..run.evaluate import Evaluation
from .records import case_records

COLUMNS = ("case", "class", "dice", "tp", "fp", "fn", "status", "gt", "pred", "pred_kind")
VOLUME_COLUMNS = ("gt_volume_mm3", "pred_volume_mm3", "gt_volume_ml", "pred_volume_ml")


def _cell(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def columns(run: Evaluation) -> tuple[str, ...]:
    """The header: the fixed columns, then requested metrics, soft Dice and volumes."""
    extra = tuple(run.metrics) + (("soft_dice",) if run.soft_dice is not None else ())
    spacing_known = any(c.voxel_volume_mm3 is not None for c in run.cases)
    return COLUMNS + extra + (VOLUME_COLUMNS if spacing_known else ()) + csv_columns(run)


def render_csv(run: Evaluation) -> str:
    """The run's per-case scores as CSV text (full float precision, '\\n' line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = columns(run)
    writer.writerow(header)
    tail = header[len(COLUMNS):]
    for case in case_records(run):
        for key, score in case["classes"].items():
            if has_objects(run):
                score = {**score, **csv_cells(score)}
            dice = "" if score["dice"] is None else repr(score["dice"])
            writer.writerow((case["case"], key, dice, score["tp"], score["fp"], score["fn"],
                             score["status"], case["gt"], case["pred"] or "", case["pred_kind"])
                            + tuple(_cell(score.get(name)) for name in tail))
    return buffer.getvalue()
