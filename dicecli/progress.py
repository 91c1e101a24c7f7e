"""A progress bar on stderr (cases done, rate, ETA) for runs longer than a moment.

Shown only when stderr is a terminal and output is not quiet; appears after
``DELAY_S`` seconds so quick runs print nothing.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

DELAY_S = 0.5


@contextmanager
def progress_reporter(*, total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``, to be called once per finished case."""
    if not enabled or not sys.stderr.isatty() or total <= 1:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    started = time.monotonic()
    state: dict = {"done": 0, "bar": None}
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:.1f} cases/s"), TimeRemainingColumn())

    def advance() -> None:
        state["done"] += 1
        bar = state["bar"]
        if bar is None and time.monotonic() - started > DELAY_S:
            bar = Progress(*columns, console=Console(file=sys.stderr), transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("scoring", total=total, completed=0, rate=0.0)
        if bar is not None:
            rate = state["done"] / max(time.monotonic() - started, 1e-9)
            bar.update(state["task"], completed=state["done"], rate=rate)

    try:
        yield advance
    finally:
        if state["bar"] is not None:
            state["bar"].stop()
