"""Strict JSON output: never NaN or Infinity tokens.

The document is indented, except that each case is one line: a reader still
sees the structure at a glance, and thousands of cases encode with the
C encoder (indented output goes through Python's slower one).
"""

from __future__ import annotations

import json
import uuid

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..evaluate import Evaluation
from .records import run_record


def _dump(value, **options) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False, **options)


def render_json(run: Evaluation, **record_options) -> str:
    """The run as a JSON document ending in a newline (options: see run_record)."""
    record = run_record(run, **record_options)
    cases = record["cases"]
    placeholder = f"cases-{uuid.uuid4().hex}"
    record["cases"] = placeholder
    text = _dump(record, indent=2)
    if cases:
        lines = ",\n".join(f"    {_dump(case)}" for case in cases)
        block = f"[\n{lines}\n  ]"
    else:
        block = "[]"
    return text.replace(f'"{placeholder}"', block, 1) + "\n"
