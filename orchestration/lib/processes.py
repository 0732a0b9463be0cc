"""Processes: whether one the project started is still there, and how a console script ends."""

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn


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


@contextlib.contextmanager
def interrupts_end_the_process(say: Callable[[], str], settle: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) or SIGTERM ends the process at once, as a kill would, once
    `say()` is printed on stderr and `settle()` has run (SETTLE_SECONDS at most), with status 128 + the
    signal's number, as a shell reports a command a signal ended. For work whose every write survives
    a kill, like a run (a load cut short is discarded by the next, a publication is renamed into
    place), and which writes no personal data to a temporary file (the loader's copies are in memory).

    Dagster raises the interrupt in the main thread wherever it stands, inside DuckDB or dbt, where it
    left the process spinning in `duckdb.connect`, or lost with the run going on, or reported as dbt's
    failure with its traceback. Python also writes each signal it handles to a "wakeup" file
    descriptor, whatever the handler: a thread waits on it, and ends the process."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # as Python requires of a wakeup descriptor

    def wait() -> None:
        while (received := os.read(read_end, 1)[0]) not in INTERRUPTS:
            if received == 0:  # the block's end
                return
        print(say(), file=sys.stderr, flush=True)
        settling = threading.Thread(target=settle, name="settle", daemon=True)
        settling.start()
        settling.join(SETTLE_SECONDS)
        quiet = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.__stdout__, sys.__stderr__):  # sys.stdout may be redirected meanwhile
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
            os.dup2(quiet, stream.fileno())  # what the work still says as it stops goes nowhere
        os._exit(128 + received)  # no exit handler: one of dbt's waits on the threads it is stopping

    waiter = threading.Thread(target=wait, name="interrupts", daemon=True)
    waiter.start()
    try:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)  # the main thread's alone
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)
    finally:
        os.write(write_end, b"\0")
        waiter.join()
        os.close(read_end)
        os.close(write_end)
