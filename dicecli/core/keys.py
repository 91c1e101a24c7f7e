"""Per-class command-line values, ``CLASS=VALUE`` (numpy-free, path-free: part of the core).

One parser for every per-class option (--threshold, --min-dice, the future
ones), so they all read "0.5", "1=0.4,liver=0.6" and "0.5,2=0.6" alike.
"""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


def parse_keyed(specs: str | Iterable[str], *, option: str, parse_value: Callable[[str, str], T],
                example: str) -> tuple[T | None, tuple[tuple[str, T], ...]]:
    """Parse ``CLASS=VALUE`` options: "0.5", "1=0.4,liver=0.6" or "0.5,2=0.6" (several specs allowed).

    The one parser of every per-class option (--threshold, --min-dice): returns
    (default or None, ((class key text, value), ...) in the order given).
    ``parse_value(text, where)`` checks one value. Keys stay text: a label value,
    a label name or a region name, resolved later (resolve_label, classes.resolve_class).
    Raises ValueError on bad syntax, two defaults or a class given twice.
    """
    specs = [specs] if isinstance(specs, str) else list(specs)
    default: T | None = None
    overrides: dict[str, T] = {}
    for spec in specs:
        parts = [p.strip() for p in str(spec).split(",")]
        if not any(parts):
            raise ValueError(f"{option}: expected {example}, got {spec!r}")
        for part in parts:
            if not part:
                continue
            if "=" in part:
                key, value = (x.strip() for x in part.split("=", 1))
                if not key:
                    raise ValueError(f"{option}: missing class before '=' in {part!r}")
                if key in overrides:
                    raise ValueError(f"{option}: class {key} is given twice")
                overrides[key] = parse_value(value, f"{option} {key}")
            else:
                if default is not None:
                    raise ValueError(f"{option}: two defaults given ({default:g} and {part})")
                default = parse_value(part, option)
    return default, tuple(overrides.items())
