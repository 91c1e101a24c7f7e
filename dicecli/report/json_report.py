"""Strict JSON output: never NaN or Infinity tokens.

The document is indented two levels deep; below that, each member of a table (a case, a class of
the summary, an entry of settings.classes) is one line. A reader still sees the structure at a
glance, and runs with thousands of cases or tens of thousands of classes encode with the C
encoder, one call per line (fully indented output goes through Python's much slower encoder).
"""

from __future__ import annotations


from typing import TYPE_CHECKING

if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..run.evaluate import Evaluation
from .json_text import Encoded, EncodedObject, compact, string as _key
from .records import LazyRows, run_record

#: Objects at this depth or deeper are one line (the document itself is depth 0); arrays are
#: indented only above depth 2, and each of their members is one line.
OBJECT_LINE_DEPTH, ARRAY_LINE_DEPTH = 3, 2

#: Characters of JSON text gathered before a chunk is handed to the writer.
CHUNK_CHARS = 1 << 16


def _is_container(value) -> bool:
    return isinstance(value, (dict, list, tuple, LazyRows, EncodedObject))


def _text(value) -> str:
    """``value`` as one line of compact JSON (pre-encoded text as it is)."""
    if isinstance(value, Encoded):
        return value.text
    if isinstance(value, EncodedObject):
        return value.line()
    if isinstance(value, LazyRows):
        return "[" + ", ".join(map(_text, value)) + "]"
    return compact(value)


def _render(value, depth: int):
    """The text of ``value`` in pieces: objects and arrays that hold containers are indented above
    their line depth, one member per line; everything else is one compact line. A LazyRows (an
    array of records) is written member by member as its records are made; Encoded and
    EncodedObject members are text already."""
    if isinstance(value, Encoded):
        yield value.text
        return
    if isinstance(value, EncodedObject):
        yield from _render_encoded_object(value, depth)
        return
    is_dict = isinstance(value, dict)
    if isinstance(value, LazyRows):
        holds_containers = len(value) > 0  # its members are records
    else:
        members = value.values() if is_dict else value if _is_container(value) else ()
        holds_containers = any(map(_is_container, members))
    if depth >= (OBJECT_LINE_DEPTH if is_dict else ARRAY_LINE_DEPTH) or not holds_containers:
        yield _text(value)
        return
    pad = "  " * (depth + 1)
    if not is_dict:
        for i, member in enumerate(value):
            yield ("[\n" if i == 0 else ",\n") + pad + _text(member)
        yield "\n" + "  " * depth + "]"
        return
    yield "{\n"
    for i, (key, member) in enumerate(value.items()):
        yield ("" if i == 0 else ",\n") + pad + _key(str(key)) + ": "
        if depth + 1 >= OBJECT_LINE_DEPTH or not _is_container(member):
            yield _text(member)  # the common case
        else:
            yield from _render(member, depth + 1)
    yield "\n" + "  " * depth + "}"


def _render_encoded_object(value: EncodedObject, depth: int):
    if depth >= OBJECT_LINE_DEPTH or not len(value):
        yield value.line()
        return
    pad = "  " * (depth + 1)
    yield "{\n" + pad + (",\n" + pad).join(value.members()) + "\n" + "  " * depth + "}"


def json_chunks(run: Evaluation, **record_options):
    """The run's JSON document (ending in a newline) as a sequence of strings of about CHUNK_CHARS
    each, made as they are consumed: the cases' records are made a block at a time, never the whole
    document at once (options: see run_record)."""
    pieces, size = [], 0
    for piece in _render(run_record(run, lazy=True, **record_options), 0):
        pieces.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            yield "".join(pieces)
            pieces, size = [], 0
    pieces.append("\n")
    yield "".join(pieces)


def render_json(run: Evaluation, **record_options) -> str:
    """The run as a JSON document ending in a newline (options: see run_record)."""
    return "".join(json_chunks(run, **record_options))
