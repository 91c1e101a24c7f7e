"""Small text helpers shared by the stderr reporters."""

from __future__ import annotations

MAX_NAMES = 5


def names(items, limit: int = MAX_NAMES) -> str:
    """``a, b, c`` — at most ``limit`` items, then ``and N more``."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
