"""Strict JSON output: never NaN or Infinity tokens."""

from __future__ import annotations

import json

from ..evaluate import Evaluation
from .records import run_record


def render_json(run: Evaluation) -> str:
    """The run as an indented JSON document ending in a newline."""
    return json.dumps(run_record(run), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
