"""Text for stderr: small helpers shared by the reporters, and the pre-flight summary printed
before scoring (matched, missing, extra, duplicates)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..io.pairing import Pairing

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

def preflight_lines(pairing: Pairing, settings) -> list[str]:
    """Lines for stderr describing how the two inputs were paired."""
    matched = sum(1 for p in pairing.pairs if p.pred is not None)
    lines = [f"{matched} case(s) paired"]
    if pairing.missing:
        what = "scored as empty (--missing-as-empty)" if settings.missing_as_empty else "input error"
        lines.append(f"{len(pairing.missing)} case(s) without prediction, {what}: {names(pairing.missing)}")
    if pairing.extra:
        lines.append(f"warning: {len(pairing.extra)} prediction(s) without ground truth, not scored: "
                     f"{names(pairing.extra)}")
    if pairing.duplicates:
        lines.append(f"{len(pairing.duplicates)} case(s) with several files, not scored: "
                     f"{names(case for case, _ in pairing.duplicates)}")
    if pairing.set_aside:
        others = [f for _, _, files in pairing.set_aside for f in files]
        lines.append(f"{len(pairing.set_aside)} case(s) with several prediction files: scored "
                     f"{names(c for _, c, _ in pairing.set_aside)}; not scored: {names(others)} "
                     "(--pred-suffix picks which)")
    for note in pairing.notes:
        lines.append(f"warning: {note}")
    patterns = [f"{what} {p!r}" for what, p in (("gt", settings.gt_pattern), ("pred", settings.pred_pattern)) if p]
    if patterns and pairing.pairs:
        first = pairing.pairs[0]
        lines.append(f"patterns {', '.join(patterns)}: case {first.case!r} is {first.gt}"
                     + (f" and {first.pred}" if first.pred else ""))
    if pairing.ignored:
        lines.append(f"{len(pairing.ignored)} file(s) of other types ignored: {names(pairing.ignored)}")
    return lines
