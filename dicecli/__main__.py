"""``python -m dicecli`` and the ``dice`` script: SIGINT and SIGTERM are dice's own, first line to last.

The handlers go in before click, numpy and the readers are imported, so an early Ctrl-C
exits 130 with one line instead of a KeyboardInterrupt traceback (or click's "Aborted!"
and exit 1). At the end dice leaves with ``os._exit`` once its streams are flushed:
Python's own shutdown puts the default handlers back, and a Ctrl-C landing there would
kill the process without a word. Only the ``dice`` script and ``python -m dicecli``
import this module, because importing it changes signal handling; library users keep
Python's.
"""

from __future__ import annotations

import os
import sys

from .interrupts import install

install()


def _status(code) -> int:
    """The exit status SystemExit(code) stands for (None: 0; text: printed, 1)."""
    if code is None or isinstance(code, int):
        return code or 0
    try:
        print(code, file=sys.stderr)
    except OSError:
        pass
    return 1


def _hold_closed_std_streams() -> None:
    """Give stdout or stderr closed at start (``dice … >&-``) to /dev/null, so no file dice opens
    takes descriptor 1 or 2: stdout read-only (printing the report fails: an output error, exit 74),
    stderr writable (the messages are dropped; the exit status stays what it would be)."""
    for fd, name, flags in ((1, "stdout", os.O_RDONLY), (2, "stderr", os.O_WRONLY)):
        if getattr(sys, name) is not None:
            continue
        null = os.open(os.devnull, flags)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        os.set_inheritable(fd, True)
        setattr(sys, name, open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False))


def main() -> None:
    """Run the ``dice`` command and exit with its status."""
    _hold_closed_std_streams()
    try:
        from .cli import main as command

        command(prog_name="dice")
        status = 0
    except SystemExit as exc:
        status = _status(exc.code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
