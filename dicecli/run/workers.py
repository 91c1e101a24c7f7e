"""Worker processes that notice when one of them dies.

:func:`ordered_map` runs ``function(item)`` on ``jobs`` processes and yields the results in
input order, as ``multiprocessing.Pool.imap`` does. Unlike a Pool, every worker has its
own task and result pipe, so the parent knows which items each worker holds: when a
worker dies (SIGKILL from the out-of-memory killer, SIGTERM, a crash in a C library), the
item it was on comes back as :class:`Lost`, the items queued behind it go to another
worker, and a fresh worker takes its place. A Pool would wait forever instead.

A worker sends the answers of a batch together (fewer messages and wake-ups for many small
items) and writes the index of the item in hand to a shared integer, so a death still names
the one item it was on; the answered-but-unsent items of its batch are simply done again.

Workers ignore SIGINT (Ctrl-C is the parent's to handle), end with the parent (Linux:
PR_SET_PDEATHSIG), and point their stdout at /dev/null, so no worker can outlive dice and
hold a pipe such as ``$(dice ...)`` open. Forking happens with SIGINT/SIGTERM held back,
so an interrupt never leaves a worker that the parent does not know about.

Workers are forked only on Linux, where that is safe and fast (they inherit the imported readers).
macOS and Windows start fresh interpreters ("spawn"): on macOS a fork after Apple's frameworks
or an OpenMP runtime have started threads can crash or deadlock the child (CPython made spawn
its default there in 3.8 for this reason).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence

from ..interrupts import deferred, worker_signals

#: Seconds a worker gets to exit after SIGTERM before it is killed.
TERMINATE_WAIT_S = 2.0
#: The shared "item in hand" value of a worker between items.
IDLE = -1
#: Seconds between looks at the workers while this process computes items itself (ordered_map
#: local): each look costs a selector; a worker holds two batches ahead, so it never starves.
LOCAL_LOOK_S = 0.001
_PR_SET_PDEATHSIG = 1


def start_method(platform: str = sys.platform) -> str:
    """The multiprocessing start method for dice's workers on ``platform``: "fork" on Linux,
    "spawn" elsewhere (macOS, where forking a process with framework threads is unsafe; Windows)."""
    return "fork" if platform.startswith("linux") else "spawn"


@dataclass(frozen=True)
class Lost:
    """An item whose worker died before answering. ``exitcode``: negative = killed by that signal."""

    index: int
    exitcode: int | None

    @property
    def reason(self) -> str:
        return death_reason(self.exitcode)


def death_reason(exitcode: int | None) -> str:
    """``killed by SIGKILL``, ``exited with status 1``: how a process ended."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


@dataclass(frozen=True)
class _Failure:
    """An exception raised by ``function`` in a worker (a bug): re-raised in the parent."""

    error: BaseException
    text: str


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os._exit(1)


def _quiet_stdout() -> None:
    """Point fd 1 at /dev/null: a worker prints nothing, and never holds the caller's stdout pipe."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def _answer(function, item):
    try:
        return function(item)
    except Exception as exc:  # a bug: the parent re-raises it
        return _Failure(exc, traceback.format_exc())


def _serve(tasks, results, current, function, initializer, parent: int) -> None:
    """A worker's life: take batches of (index, item), send back their [(index, outcome)].

    ``current`` (shared with the parent) holds the index of the item in hand, IDLE between items.
    """
    worker_signals()
    _die_with_parent(parent)
    _quiet_stdout()
    if initializer is not None:
        initializer()
    while True:
        try:
            batch = tasks.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        answers = []
        for index, item in batch:
            current.value = index
            answers.append((index, _answer(function, item)))
            current.value = IDLE
        try:
            results.send(answers)
        except (TypeError, AttributeError, ValueError) as exc:  # an unpicklable outcome: a bug
            results.send([(index, _Failure(RuntimeError(str(exc)), repr(exc))) for index, _ in answers])


def _shared_int(context):
    """An int64 (``.value``, starting IDLE) that a forked child and this process share.

    An anonymous shared mapping under fork: no file behind it, so neither a full /dev/shm nor a
    file-size limit can stop it. Other start methods use multiprocessing's shared heap.
    """
    if context.get_start_method() != "fork":
        return context.RawValue("q", IDLE)
    import ctypes
    import mmap

    value = ctypes.c_int64.from_buffer(mmap.mmap(-1, ctypes.sizeof(ctypes.c_int64)))
    value.value = IDLE
    return value


class _Worker:
    """One process, its task pipe (parent writes) and result pipe (parent reads)."""

    def __init__(self, context, function, initializer):
        task_r, self.tasks = context.Pipe(duplex=False)
        self.results, result_w = context.Pipe(duplex=False)
        self.current = _shared_int(context)  # the item in hand, written by the worker
        self.process = context.Process(target=_serve, daemon=True,
                                       args=(task_r, result_w, self.current, function, initializer, os.getpid()))
        self.process.start()
        task_r.close()
        result_w.close()
        self.queue: deque[int] = deque()  # indices sent and not answered, in order

    def send(self, batch: list[tuple[int, object]]) -> bool:
        """Queue a batch; False when the worker is gone."""
        try:
            self.tasks.send(batch)
        except OSError:
            return False
        self.queue.extend(index for index, _ in batch)
        return True

    def drain(self, done: dict) -> bool:
        """Move every answer waiting in the pipe into ``done``; False once the pipe is closed."""
        try:
            while self.results.poll():
                for index, outcome in self.results.recv():
                    self.queue.remove(index)
                    done[index] = outcome
        except (EOFError, OSError):
            return False
        return True

    def stop(self, *, wait: bool) -> None:
        """End the process: politely when ``wait`` (all work done), else at once."""
        try:
            self.tasks.send(None) if wait else None
        except OSError:
            pass
        self.tasks.close()
        self.process.join(TERMINATE_WAIT_S if wait else 0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(TERMINATE_WAIT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.results.close()


def _flush_std_streams() -> None:
    """Flush before forking, so a child never writes the parent's buffered text a second time."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


class _Pool:
    def __init__(self, context, function, initializer, jobs: int):
        self.context, self.function, self.initializer = context, function, initializer
        self.jobs = jobs
        self.workers: list[_Worker] = []
        self.spare_deaths = 0  # deaths with no item in hand (at start-up, between items)

    def fill(self) -> None:
        """Start workers until there are ``jobs``."""
        _flush_std_streams()
        while len(self.workers) < self.jobs:
            with deferred():  # an interrupt waits until the worker is on the list (and so stopped later)
                self.workers.append(_Worker(self.context, self.function, self.initializer))

    def bury(self, worker: _Worker, todo: deque, done: dict) -> None:
        """A worker died: the item in its hand is Lost; its other unanswered items go back to ``todo``."""
        worker.drain(done)
        worker.process.join()
        self.workers.remove(worker)
        exitcode, in_hand = worker.process.exitcode, worker.current.value
        worker.stop(wait=False)
        lost = in_hand if in_hand in worker.queue else None
        if lost is not None:
            worker.queue.remove(lost)
            done[lost] = Lost(lost, exitcode)
        todo.extendleft(reversed(worker.queue))  # sent but not answered: scored again elsewhere
        if lost is None:  # died with no item in hand: nothing is lost, but a pool that keeps dying stops
            self.spare_deaths += 1
            if self.spare_deaths > 2 * self.jobs:
                raise RuntimeError(f"worker processes keep dying between cases ({death_reason(exitcode)})")

    def close(self, *, wait: bool) -> None:
        with deferred():  # a second interrupt never leaves a worker running
            while self.workers:
                self.workers.pop().stop(wait=wait)


def _feed(worker: _Worker, todo: deque, items: Sequence, batch: int, depth: int) -> None:
    while todo and len(worker.queue) < depth:
        indices = [todo.popleft() for _ in range(min(batch, len(todo)))]
        if not worker.send([(i, items[i]) for i in indices]):
            todo.extendleft(reversed(indices))
            return


def _wait(workers: list[_Worker], timeout: float | None = None) -> set:
    from multiprocessing.connection import wait

    return set(wait([w.results for w in workers] + [w.process.sentinel for w in workers], timeout))


def ordered_map(function: Callable, items: Sequence, *, jobs: int, batch: int = 1,
                initializer: Callable[[], object] | None = None, context=None,
                local: bool = False) -> Generator[Any, None, None]:
    """Yield ``function(item)`` for every item, in order, computed on ``jobs`` processes.

    An item whose worker died is yielded as a :class:`Lost`; an exception raised by
    ``function`` is re-raised here. ``batch`` items travel together (fewer messages for many
    small items); a worker holds one batch, or two when ``batch`` > 1 so it never idles.
    Workers are stopped when the generator finishes, fails or is closed.
    local: this process computes items too, whenever it would otherwise wait for a worker,
    taking them from the far end of the queue (so ``jobs`` workers and this process share the
    work, and the workers keep the items yielded next); its exceptions propagate at once.
    """
    if context is None:
        import multiprocessing

        context = multiprocessing.get_context(start_method())
    items = list(items)
    todo: deque[int] = deque(range(len(items)))
    done: dict = {}
    depth = batch * (2 if batch > 1 or local else 1)  # local: the next batch waits while this process is busy
    pool = _Pool(context, function, initializer, min(jobs, max(1, len(items))))
    finished = False
    look = 0.0  # when to look at the workers next, while computing items here
    try:
        pool.fill()
        for next_out in range(len(items)):
            while next_out not in done:
                if not pool.workers:
                    raise RuntimeError(f"item {next_out} is neither done nor held by a worker")
                for worker in pool.workers:
                    _feed(worker, todo, items, batch, depth)
                if local and todo:
                    index = todo.pop()
                    done[index] = function(items[index])
                    if time.perf_counter() < look:
                        continue
                    look = time.perf_counter() + LOCAL_LOOK_S
                    ready = _wait(pool.workers, timeout=0)
                else:
                    ready = _wait(pool.workers)
                for worker in list(pool.workers):
                    if worker.process.sentinel in ready or (worker.results in ready and not worker.drain(done)):
                        pool.bury(worker, todo, done)
                pool.fill() if todo else None
            outcome = done.pop(next_out)
            if isinstance(outcome, _Failure):
                raise outcome.error from RuntimeError(f"in a worker process:\n{outcome.text}")
            yield outcome
        finished = True
    finally:
        pool.close(wait=finished)
