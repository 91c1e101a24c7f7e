"""Score cases on a Dask distributed cluster (``--scheduler``): the same per-case code as local runs.

Cases go to the cluster's workers as tasks, paths and settings in, a small
record out (arrays never cross the network: workers read the files themselves,
so gt and pred paths must resolve on every worker, e.g. on a shared file
system). Results come back in case order, each as soon as it and every case
before it are done. A worker that dies is retried by Dask (``retries=2``); a
case that fails on every try is an error for that case only, naming it.
Dask is an optional extra: ``pip install 'dicecli[dask]'``.
"""

from __future__ import annotations

import os
import threading
import uuid

from ..case import CaseError, score_pair
from ..errors import UsageError

EXTRA = "dask"
RETRIES = 2
#: How long to try reaching the scheduler before giving up.
CONNECT_TIMEOUT = "10s"
#: How long connecting may take in all (TCP connect, handshake, registering), in seconds.
DEADLINE_S = 30.0


def connect(address: str):
    """A distributed Client for a scheduler address (tcp://host:8786) or a scheduler file."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(f"--scheduler needs Dask distributed: pip install 'dicecli[{EXTRA}]'") from None
    try:
        return _within_deadline(address, lambda: Client(scheduler_file=address, timeout=CONNECT_TIMEOUT)
                                if os.path.isfile(address) else Client(address, timeout=CONNECT_TIMEOUT))
    except UsageError:
        raise
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({_first_line(exc)})") from None
    except Exception as exc:  # something else answers (an HTTP server), a file that is no scheduler file
        raise UsageError(f"--scheduler {address}: cannot connect, no Dask scheduler answers there "
                         f"({': '.join(filter(None, (type(exc).__name__, _first_line(exc))))})") from None


def _within_deadline(address: str, make):
    """``make()`` (a Client), or UsageError when it has not returned after DEADLINE_S: Dask bounds
    the TCP connect by CONNECT_TIMEOUT, but a server that accepts and then stays silent (an HTTP
    server waiting for a request) kept the client waiting for ever. The abandoned attempt runs in a
    daemon thread, which ends with dice."""
    outcome: dict = {}
    gave_up = threading.Event()

    def attempt() -> None:
        try:
            client = make()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
            return
        outcome["client"] = client
        if gave_up.is_set():  # too late: nobody will use it (in a library process it would linger)
            client.close()

    thread = threading.Thread(target=attempt, name="dice-scheduler-connect", daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if thread.is_alive():
        gave_up.set()
        if "client" in outcome:  # it arrived between the wait and giving up (closing twice is harmless)
            outcome["client"].close()
        raise UsageError(f"--scheduler {address}: cannot connect, nothing answered as a Dask scheduler "
                         f"within {DEADLINE_S:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["client"]


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:150]


def score_on_cluster(pairs, settings, address: str, progress=None):
    """Yield score_pair's outcome for each of ``pairs``, in order, computed on the cluster."""
    if not pairs:
        return
    client = connect(address)
    run = uuid.uuid4().hex[:8]
    try:
        futures = client.map(score_pair, list(pairs), settings=settings, pure=False, retries=RETRIES,
                             key=[f"dice-{run}-{i}" for i in range(len(pairs))])
        for pair, future in zip(pairs, futures, strict=True):
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker, a lost connection: this case only
                path = pair.pred or pair.gt
                outcome = CaseError(pair.case, path, f"{path}: failed on the cluster after {RETRIES + 1} tries "
                                                     f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
            finally:
                future.release()
            yield outcome
            if progress:
                progress()
    finally:
        client.close()
