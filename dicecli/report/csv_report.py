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
from .records import iter_case_records

COLUMNS = ("case", "class", "dice", "tp", "fp", "fn", "status", "gt", "pred", "pred_kind")
VOLUME_COLUMNS = ("gt_volume_mm3", "pred_volume_mm3", "gt_volume_ml", "pred_volume_ml")


def _cell(value) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def columns(run: Evaluation) -> tuple[str, ...]:
    """The header: the fixed columns, then requested metrics, soft Dice and volumes."""
    extra = tuple(run.metrics)
    spacing_known = any(v is not None for v in run.cases.values("voxel_volume_mm3"))
    return COLUMNS + extra + (VOLUME_COLUMNS if spacing_known else ()) + csv_columns(run)


#: Cases whose rows make one chunk of CSV text.
CHUNK_CASES = 1024


def csv_chunks(run: Evaluation):
    """The run's per-case scores as CSV text (full float precision, '\\n' line ends), as strings of
    CHUNK_CASES cases' rows each, made as they are consumed (never the whole text at once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = columns(run)
    writer.writerow(header)
    tail = header[len(COLUMNS):]
    objects = has_objects(run)
    for i, case in enumerate(iter_case_records(run), start=1):
        for key, score in case["classes"].items():
            if objects:
                score = {**score, **csv_cells(score)}
            dice = "" if score["dice"] is None else repr(score["dice"])
            writer.writerow((case["case"], key, dice, score["tp"], score["fp"], score["fn"],
                             score["status"], case["gt"], case["pred"] or "", case["pred_kind"])
                            + tuple(_cell(score.get(name)) for name in tail))
        if i % CHUNK_CASES == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def render_csv(run: Evaluation) -> str:
    """The run's per-case scores as CSV text (full float precision, '\\n' line ends)."""
    return "".join(csv_chunks(run))
