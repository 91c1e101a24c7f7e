"""Strict JSON output: never NaN or Infinity tokens.

The document is indented two levels deep; below that, each member of a table (a case, a class of
the summary, an entry of settings.classes) is one line. A reader still sees the structure at a
glance, and runs with thousands of cases or tens of thousands of classes encode with the C
encoder, one call per line (fully indented output goes through Python's much slower encoder).
"""

from __future__ import annotations

import json

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..run.evaluate import Evaluation
from .records import run_record

#: Objects at this depth or deeper are one line (the document itself is depth 0); arrays are
#: indented only above depth 2, and each of their members is one line.
OBJECT_LINE_DEPTH, ARRAY_LINE_DEPTH = 3, 2

_compact = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
_key = json.encoder.encode_basestring  # what the encoder uses for strings with ensure_ascii=False


def _is_container(value) -> bool:
    return isinstance(value, (dict, list, tuple))


def _render(value, depth: int, out: list[str]) -> None:
    """Append the text of ``value`` to ``out``: objects and arrays that hold containers are indented
    above their line depth, one member per line; everything else is one compact line."""
    is_dict = isinstance(value, dict)
    members = value.values() if is_dict else value if _is_container(value) else ()
    if depth >= (OBJECT_LINE_DEPTH if is_dict else ARRAY_LINE_DEPTH) or not any(map(_is_container, members)):
        out.append(_compact(value))
        return
    pad = "  " * (depth + 1)
    if not is_dict:
        out.append("[\n" + ",\n".join(pad + _compact(member) for member in value) + "\n" + "  " * depth + "]")
        return
    out.append("{\n")
    for i, (key, member) in enumerate(value.items()):
        out.append(("" if i == 0 else ",\n") + pad + _key(str(key)) + ": ")
        if depth + 1 >= OBJECT_LINE_DEPTH or not _is_container(member):
            out.append(_compact(member))  # the common case, without a call per member
        else:
            _render(member, depth + 1, out)
    out.append("\n" + "  " * depth + "}")


def render_json(run: Evaluation, **record_options) -> str:
    """The run as a JSON document ending in a newline (options: see run_record)."""
    out: list[str] = []
    _render(run_record(run, **record_options), 0, out)
    return "".join(out) + "\n"
