"""Strict JSON output: never NaN or Infinity tokens."""

from __future__ import annotations

import json

from ..evaluate import Evaluation
from .records import run_record


def render_json(run: Evaluation, **record_options) -> str:
    """The run as an indented JSON document ending in a newline (options: see run_record)."""
    return json.dumps(run_record(run, **record_options), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
