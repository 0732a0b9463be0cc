"""Processes: whether one the project started is still there, how a console script ends, and how
work runs so that an interrupt neither reaches inside it nor goes unanswered."""

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")


def is_alive(pid: int) -> bool:
    """Whether process `pid` exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_now(status: int) -> NoReturn:
    """End this process with `status` as soon as its work is done: the exit handlers run (temporary
    files removed, logs flushed) and the other threads are waited for, but the interpreter does not
    tear down, one by one, the thousands of modules and objects Dagster, dbt and GX leave behind
    (time spent freeing memory that the system reclaims at once). For console scripts only."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what was not read is lost either way
            pass
    os._exit(status)


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


# How long the process, interrupted, waits for `settle` (below): it must end soon, settled or not.
SETTLE_SECONDS = 5


def run_to_its_end(work: Callable[[], T], meanwhile: str = "") -> T:
    """`work()`, in a thread of its own that the caller waits for to the end: an interrupt raised in the
    caller meanwhile (Ctrl-C, or Dagster stopping a step when a run is terminated) is raised again once
    the work is done, with `meanwhile` printed on stderr at once, so that the wait is not taken for a
    hang. For work whose threads must not have what they use closed under them, like dbt's: interrupted
    in the thread that waits on its threads, dbt, then our clean-up, closed DuckDB while they still ran
    queries on it, and the process could abort (`malloc(): unaligned tcache chunk detected`)."""
    outcome: dict = {}
    done = threading.Event()  # not Thread.join: interrupted, it takes the thread for ended (Python 3.11)

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # noqa: BLE001 (raised again in the caller's thread)
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=run, name="to-its-end", daemon=True).start()
    interrupt = None
    while not done.is_set():
        try:
            done.wait(0.5)  # and wakes, should another thread have received a signal, to run its handler
        except BaseException as error:  # noqa: BLE001 (raised once the work is done)
            if interrupt is None and meanwhile:
                print(meanwhile, file=sys.stderr, flush=True)
            interrupt = interrupt or error
    if interrupt is not None:
        raise interrupt
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_until_interrupted(work: Callable[[], T], say: Callable[[], str],
                          settle: Callable[[], None] = lambda: None) -> T:
    """`work()`, unless Ctrl-C (SIGINT) or SIGTERM comes first: then the process ends at once, as a kill
    would, once `say()` is printed on stderr and `settle()` has run (SETTLE_SECONDS at most), with status
    128 + the signal's number, as a shell reports a command a signal ended. For work whose every write
    survives a kill, like a run (a load cut short is discarded by the next, a publication is renamed into
    place), and which writes no personal data to a temporary file (the loader's copies are in memory).

    The work runs in a thread of its own (`run_to_its_end`). In the main thread, Dagster's handlers
    raise the interrupt wherever the work stands, inside DuckDB or dbt: the process had spun in
    `duckdb.connect`, run on, reported dbt's traceback as a failed build, or aborted as DuckDB was
    closed under dbt's threads. Dagster leaves the signals alone in other threads: the main thread only
    waits, and the signals are handled there by `end` alone."""

    def end(received: int, _frame) -> NoReturn:
        print(say(), file=sys.stderr, flush=True)
        quiet = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.__stdout__, sys.__stderr__):  # sys.stdout may be redirected meanwhile
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
            os.dup2(quiet, stream.fileno())  # what the work still says goes nowhere
        settling = threading.Thread(target=settle, name="settle", daemon=True)
        settling.start()
        settling.join(SETTLE_SECONDS)
        os._exit(128 + received)  # no exit handler: they would wait for the work

    # Even if ignored, as Dagster's own handlers did: the processes a run starts inherit an ignored signal,
    # and Dagster stops those that mirror a step's output with SIGTERM, waiting 30 s for each in vain.
    previous = {number: signal.signal(number, end) for number in INTERRUPTS}
    try:
        return run_to_its_end(work)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
