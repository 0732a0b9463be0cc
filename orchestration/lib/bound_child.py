"""`jingtu-dbt`: dbt, bound to the process that starts it.

dagster-dbt runs dbt as a child process. A `jingtu` killed mid-step (even with SIGKILL, which leaves
it no chance to clean up) would leave that dbt running and holding the warehouse's lock. Linux ends
a process whose parent dies when it asks to (PR_SET_PDEATHSIG, kept across exec): this asks, then
runs dbt (or becomes `JINGTU_DBT_PROGRAM`)."""

import ctypes
import os
import signal
import sys

from orchestration.lib.processes import exit_now

PR_SET_PDEATHSIG = 1
PARENT = "JINGTU_DBT_PARENT"  # the pid that started us, to catch a parent that died before we asked
PROGRAM = "JINGTU_DBT_PROGRAM"  # what to become instead of running dbt
WORKING_DIRECTORY = "JINGTU_DBT_CWD"  # where to become it, if not where we were started


def main() -> None:
    # An ignored signal stays ignored across exec, and the parent may pass SIGTERM on ignored: outside
    # a step, Dagster gives SIGTERM SIGINT's disposition, which is "ignore" in a process started in the
    # background by a shell script. The death signal would then do nothing.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        sys.exit(f"jingtu-dbt: prctl failed (errno {ctypes.get_errno()})")
    if os.environ.get(PARENT) and os.getppid() != int(os.environ[PARENT]):
        sys.exit("jingtu-dbt: the process that started dbt is gone")
    if os.environ.get(WORKING_DIRECTORY):
        os.chdir(os.environ[WORKING_DIRECTORY])
    if program := os.environ.get(PROGRAM):
        os.execv(program, [program, *sys.argv[1:]])
    from dbt.cli.main import cli  # dbt in this process, which then exits without tearing dbt down

    status = 0
    try:
        cli()
    except SystemExit as done:  # how click returns dbt's status
        status = done.code if isinstance(done.code, int) else 1 if done.code else 0
    exit_now(status)
