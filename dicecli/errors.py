"""Exception types and exit statuses shared by every module.

This module imports nothing from dicecli, so any module may import it.
Every input problem is an :class:`InputError` carrying the offending path and a
one-line reason; the CLI prints ``path: reason`` and never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes (a contract: scripts rely on these numbers)."""

    OK = 0  # every case scored, every gate passed
    GATE_FAILED = 1  # scored, but a quality gate failed
    USAGE = 2  # bad option or argument
    INPUT_ERROR = 3  # a file could not be read or paired, or geometry did not match
    INTERNAL = 70  # a bug in dice itself (EX_SOFTWARE); --debug shows the traceback
    OUTPUT_ERROR = 74  # an output could not be written (EX_IOERR); the report is still printed
    INTERRUPTED = 130  # stopped by Ctrl-C (128 + SIGINT)
    BROKEN_PIPE = 141  # stdout or stderr was closed early (128 + SIGPIPE), e.g. `dice ... | head -1`
    TERMINATED = 143  # stopped by SIGTERM (128 + SIGTERM)


def os_reason(exc: OSError) -> str:
    """An OSError's reason for a one-line message, lower case: "no space left on device"."""
    return (exc.strerror or str(exc)).lower()


class DiceError(Exception):
    """Base class of every error dicecli raises on purpose."""


class UsageError(DiceError):
    """The command line or API call asks for something impossible."""


class InputError(DiceError):
    """A file could not be used. ``path`` names it, ``reason`` says why in one line."""

    def __init__(self, path: str | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = " ".join(str(reason).split())  # always one line
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class ReadError(InputError):
    """The file is missing, unreadable, truncated or not a supported image."""


class ValueKindError(InputError):
    """The values make no sense for a mask: NaN, non-whole labels, out-of-range probabilities."""


class GeometryError(InputError):
    """Ground truth and prediction differ in shape, spacing or orientation."""


class PairingError(InputError):
    """Cases could not be matched between the ground-truth and prediction folders."""


class OutputError(DiceError):
    """An output file (or stdout) could not be written; the message names it and the reason."""
