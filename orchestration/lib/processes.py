"""Processes: whether one the project started is still there, and how a console script ends."""

import atexit
import os
import sys
import threading
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
