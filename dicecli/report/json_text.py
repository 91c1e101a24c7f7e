"""JSON text made straight from columns of scalars, for the tables of a report.

A run can have 100,000 cases or 30,000 classes; making a dict per record and handing each to the
encoder costs more than the scoring. Here the records of a table come out as text, one column
at a time (each column converted by one pass of the type its values share), byte for byte what
``json.dumps(record, ensure_ascii=False, allow_nan=False)`` writes for the same record:
ints and finite floats as Python writes them (``repr``), None as null, strings escaped by the
encoder's own function. The ``Encoded`` and ``EncodedObject`` wrappers tell the writer that text
is already JSON.
"""

from __future__ import annotations

import json
import math

#: A str as JSON text: the encoder's own escaping with ensure_ascii=False.
string = json.encoder.encode_basestring


def _compact_encoder():
    """JSONEncoder(allow_nan=False, ensure_ascii=False).encode, with the C encoder made once instead
    of once per call (30,000 lines: 4.2 -> 3.0 µs each). Pre-encoded text inside a value is refused
    (TypeError): it would be written as a string."""

    def refuse(value):
        raise TypeError(f"cannot encode {type(value).__name__} inside a compact JSON line")

    encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, default=refuse)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python path
        return encoder.encode
    iterencode = make(None, refuse, string, None, ": ", ", ", False, False, False)

    def encode(value) -> str:
        if isinstance(value, str):  # as JSONEncoder.encode: a bare string is not a container
            return string(value)
        return "".join(iterencode(value, 0))

    return encode


#: One value as one line of compact JSON (never NaN or Infinity: ValueError).
compact = _compact_encoder()


class Encoded:
    """JSON text the writer puts out as it is (a table member already encoded)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class EncodedObject:
    """A JSON object whose member values are already text: ``keys`` (str) and ``texts``, in order.
    The writer puts it on one line, or one member per line where objects are indented."""

    __slots__ = ("keys", "texts")

    def __init__(self, keys: list[str], texts: list[str]) -> None:
        self.keys, self.texts = keys, texts

    def __len__(self) -> int:
        return len(self.keys)

    def members(self) -> list[str]:
        """``"key": value`` of each member."""
        return [string(key) + ": " + text for key, text in zip(self.keys, self.texts)]

    def line(self) -> str:
        return "{" + ", ".join(self.members()) + "}"


#: Texts of floats met recently (a report repeats values: a class's mean, median, min, max and
#: pooled Dice are one number when it has one case; float repr costs about 0.5 us, a lookup 0.05).
_FLOAT_TEXTS: dict[float, str] = {}
_FLOAT_TEXTS_MAX = 1 << 16


def _float_text(value: float) -> str:
    """repr(value), kept for the next time; ValueError for NaN and infinities (as the encoder)."""
    if not math.isfinite(value):
        raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
    text = float.__repr__(value)
    if value:  # 0.0 == -0.0: zeros are never kept, so each keeps its own sign
        if len(_FLOAT_TEXTS) >= _FLOAT_TEXTS_MAX:
            _FLOAT_TEXTS.clear()
        _FLOAT_TEXTS[value] = text
    return text


def _finite_or_null(column: list) -> list[str]:
    kept = _FLOAT_TEXTS.get
    return ["null" if value is None else kept(value) or _float_text(value) for value in column]


def column_texts(column: list) -> list[str]:
    """The JSON text of each value of ``column``: one conversion for the whole column when its
    values share a type (int; float or None; str; bool; lists of ints), the encoder's otherwise."""
    kinds = set(map(type, column))
    if kinds <= {int}:
        return list(map(int.__repr__, column))
    if kinds <= {float, type(None)}:
        return _finite_or_null(column)
    if kinds <= {str}:
        return list(map(string, column))
    if kinds <= {bool}:
        return ["true" if value else "false" for value in column]
    if kinds <= {list, tuple} and all(set(map(type, value)) <= {int} for value in column):
        return ["[" + ", ".join(map(int.__repr__, value)) + "]" for value in column]
    return list(map(compact, column))


def record_template(names: list[str]) -> str:
    """A str.format template of the compact JSON record with members ``names``, one ``{}`` per value
    text (the record's own braces, and any brace in a name, doubled)."""
    return "{{" + ", ".join(string(name).replace("{", "{{").replace("}", "}}") + ": {}" for name in names) + "}}"


def record_texts(names: list[str], columns: list[list]) -> list[str]:
    """The compact JSON text of record i = {names[0]: columns[0][i], names[1]: columns[1][i], ...}
    for every row i (all columns of one length)."""
    if not names:
        return []
    template = record_template(names)
    return [template.format(*row) for row in zip(*map(column_texts, columns))]
