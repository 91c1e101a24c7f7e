"""Small text helpers shared by the stderr reporters."""

from __future__ import annotations

import re

MAX_NAMES = 5

# C0 and C1 control characters, DEL, and lone surrogates (file-name bytes that are not UTF-8).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text) -> str:
    """``text`` safe for one terminal line: control characters (newline, ESC) and undecodable
    file-name bytes (lone surrogates) become backslash escapes (``\\n``, ``\\x1b``, ``\\udcff``)."""
    return _UNPRINTABLE.sub(_escape, str(text))


def names(items, limit: int = MAX_NAMES) -> str:
    """``a, b, c`` — at most ``limit`` items, then ``and N more``."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
