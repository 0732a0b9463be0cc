"""The Dagster runs `jingtu materialize` executes in its own process: their tags, and how a run whose
process has gone, killed or interrupted, is ended. Such a run stays STARTED, shown running in the UI,
and may hold the warehouse pool's only slot, which a run from the UI or a schedule would wait for."""

import os
import shutil
import socket

from orchestration.lib.processes import is_alive

CLI_PID_TAG = "jingtu/cli_pid"
CLI_HOST_TAG = "jingtu/cli_host"  # a process id means something on its own machine only
CLI_RUN_TAG = "jingtu/cli_run"  # which run of the process, for its progress lines


def tags(run_tag: str) -> dict[str, str]:
    """The tags of a run this process executes, `run_tag` naming it among the process's."""
    return {CLI_PID_TAG: str(os.getpid()), CLI_HOST_TAG: socket.gethostname(), CLI_RUN_TAG: run_tag}


def end_run(instance, run, why: str) -> None:
    """The run marked failed (`why`), its warehouse slot freed, and its dbt target folder removed (a
    failed step keeps its own, whose log its message names; a killed one's names nothing)."""
    from orchestration.dbt import step_target_folder

    instance.report_run_failed(run, why)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    pattern = step_target_folder(run.run_id, "*")
    for folder in pattern.parent.glob(pattern.name):
        shutil.rmtree(folder, ignore_errors=True)


def release_dead(instance) -> list[str]:
    """End the runs whose `jingtu` on this machine is gone (killed, by hand or out of memory): the ids
    of the runs ended."""
    from dagster import DagsterRunStatus, RunsFilter

    ended, here = [], socket.gethostname()
    for run in instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        pid = run.tags.get(CLI_PID_TAG)
        if pid and run.tags.get(CLI_HOST_TAG, here) == here and not is_alive(int(pid)):
            end_run(instance, run, f"the jingtu process {pid} running it is gone (killed?)")
            ended.append(run.run_id)
    return ended


def end_interrupted(instance, run_tag: str) -> None:
    """The run of an interrupted `jingtu materialize` (`CLI_RUN_TAG`), ended at once rather than by the
    next `jingtu` or the sensor."""
    from dagster import RunsFilter

    for run in instance.get_runs(filters=RunsFilter(tags={CLI_RUN_TAG: run_tag})):
        if not run.is_finished:
            end_run(instance, run, "interrupted (Ctrl-C or SIGTERM): `jingtu materialize` stopped")
