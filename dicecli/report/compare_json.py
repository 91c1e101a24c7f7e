"""``dice compare --format json``: strict JSON (never NaN or Infinity tokens)."""

from __future__ import annotations

import json

from ..compare import Comparison, comparison_record


def render_comparison_json(cmp: Comparison) -> str:
    return json.dumps(comparison_record(cmp), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
