"""SIGINT and SIGTERM in the dice command, and sections that must not be cut in half.

The command calls :func:`install`. From then on either signal ends dice with exit status
128 + the signal number (130 for Ctrl-C, 143 for SIGTERM) and one line on stderr saying what
was written (:func:`set_note`). How depends on what dice holds at that moment:

- nothing to clean up (start-up, imports, pairing, printing): the process exits at once.
  Raising an exception there could be lost: Python turns one raised inside a class body
  into a RuntimeError, and the compiler swallows one raised while it compiles a module.
- inside :func:`unwinding` (worker processes, a progress bar, temporary files): the signal
  raises :class:`Interrupted` (not a KeyboardInterrupt, so click's "Aborted!" and
  ``except Exception`` let it through) and ``finally`` blocks clean up on the way out.

:func:`deferred` holds both signals back during a short critical section (renaming the
outputs into place, forking a worker, removing temporary files) and then delivers the first
one to whatever handler was installed before, so library callers keep their KeyboardInterrupt.

Imports nothing but ``os`` and ``signal``: the command installs the handlers before it loads
anything else, so that an early Ctrl-C is handled too.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Any, Callable

#: The signals that stop dice.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A signal handler as signal.signal returns it: a function, SIG_DFL / SIG_IGN, or None (not set from Python).
Handler = Callable[[int, FrameType | None], Any] | int | None

_state: dict = {"unwinding": 0, "note": None}


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. ``status`` is the exit status a shell expects: 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def status(self) -> int:
        return 128 + self.signum


def _note() -> str:
    note = _state["note"]
    try:
        return note() if callable(note) else "nothing was written"
    except Exception:  # never let a message stop the exit
        return "stopped"


def _stop(signum, frame) -> None:
    """The handler: raise Interrupted inside :func:`unwinding`, else exit at once."""
    if _state["unwinding"]:
        raise Interrupted(signum)
    try:
        os.write(2, f"dice: interrupted: {_note()}\n".encode("utf-8", "backslashreplace"))
    except OSError:
        pass
    os._exit(128 + signum)


def install() -> dict:
    """Handle SIGINT and SIGTERM as described above; returns the previous handlers (for restore).

    Does nothing outside the main thread (only the main thread may set handlers)."""
    previous = {}
    for signum in STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is None:  # set outside Python: leave it alone
            continue
        try:
            previous[signum] = signal.signal(signum, _stop)
        except ValueError:  # not the main thread
            return previous
    return previous


def restore(previous: dict) -> None:
    """Put back the handlers :func:`install` (or :func:`deferred`) replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def set_note(note) -> None:
    """``note()`` says what was written, for the message of an interrupt (None: nothing was)."""
    _state["note"] = note


class unwinding:
    """A section holding something to clean up: a signal raises Interrupted so ``finally`` blocks run."""

    def __enter__(self):
        _state["unwinding"] += 1
        return self

    def __exit__(self, *exc) -> None:
        _state["unwinding"] -= 1


def _deliver(signum: int, handler) -> None:
    """Act on a held-back signal as ``handler`` would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)


class deferred:
    """Hold SIGINT and SIGTERM back until the block ends, then deliver the first one.

    Keep the block short and free of anything that can wait forever. A no-op outside the
    main thread (only the main thread may set handlers; Python runs them there).
    """

    def __enter__(self):
        self.held: list[int] = []
        self.previous: dict[int, Handler] = {}
        try:
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not None:
                    self.previous[signum] = signal.signal(signum, lambda s, f: self.held.append(s))
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc) -> None:
        restore(self.previous)
        if self.held:
            _deliver(self.held[0], self.previous.get(self.held[0], signal.SIG_DFL))


def worker_signals() -> None:
    """In a freshly forked worker: Ctrl-C is the parent's to handle; SIGTERM ends the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
