"""A two-year backfill launched as the UI launches one (its GraphQL mutation), through the Dagster run
machinery: the backfill daemon submits one run for the range (the assets' single-run backfill policy),
the queued run coordinator launches it, the warehouse pool serialises its steps, and it ends with the
county portraits of its years and the serving file; the daemon's sensor records what it ran. A run
then terminated from the UI ends cancelled, leaving the warehouse and its pool slot free and the
published file as it was; `jingtu materialize` found nothing new before it, and runs the years whole
after it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.client.client_queries import TERMINATE_RUN_JOB_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from orchestration import cli, inputs
from orchestration.lib.duck import connect
from orchestration.resources import WAREHOUSE_POOL
from tests.conftest import personal_data_written, project_dagster_home, raw_callers, stop_session

BIN = Path(sys.executable).parent
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
# What the UI sends for a backfill of the job's partitions (Launchpad, or the job's Partitions tab).
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
# What the UI sends to materialise the job's assets for a partition (the Materialize button).
LAUNCH_RUN = """
mutation ($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


# Dagster's own snapshot of a schedule, made in this process, reads a property it has deprecated
@pytest.mark.filterwarnings("ignore:Property `ScheduleDefinition.environment_vars` is deprecated")
def test_a_two_year_backfill_runs_through_the_daemon_and_completes(raw, tmp_path, monkeypatch, capsys):
    home = project_dagster_home(tmp_path / "dagster_home")
    warehouse = tmp_path / "w" / "jingtu.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "JINGTU_RAW": str(raw), "JINGTU_WAREHOUSE": str(warehouse),
           "JINGTU_PII_SALT": "backfill-test"}
    module = ["-m", "orchestration.definitions"]
    params = {"selector": {"partitionSetName": "yearly_evaluation_partition_set",
                           "repositorySelector": {"repositoryName": "__repository__",
                                                  "repositoryLocationName": module[1]}},
              "partitionNames": ["2017", "2018"]}
    for name in ("DAGSTER_HOME", "JINGTU_RAW", "JINGTU_WAREHOUSE", "JINGTU_PII_SALT"):  # for `jingtu` in this process
        monkeypatch.setenv(name, env[name])
    # The UI's mutation, against the code location loaded in this process under the daemon's name for it
    # (a code server of its own would cost another Python start): the daemon then runs what it stored.
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name=module[1]), location_name=module[1])

    def ui(mutation: str, variables: dict) -> dict:
        with DagsterInstance.get() as instance, WorkspaceProcessContext(
                instance, InProcessWorkspaceLoadTarget(location)) as workspace:
            return execute_dagster_graphql(workspace.create_request_context(), mutation, variables).data

    answer = ui(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    log = tmp_path / "daemon.log"
    # A session of its own, so that the daemon's code server is stopped with it.
    with log.open("w") as out:  # the daemon writes to its own copy of the descriptor
        daemon = subprocess.Popen([BIN / "dagster-daemon", "run", *module], env=env, start_new_session=True,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 600
            runs = []
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name="yearly_evaluation"))
                # every partition submitted (the daemon marks the backfill complete only at its next
                # iteration after the runs end, up to 30 s later)
                submitted = (instance.get_backfill(answer["backfillId"]).last_submitted_partition_name
                             == params["partitionNames"][-1])
                if runs and submitted and all(run.status in TERMINAL for run in runs):
                    break
                time.sleep(1)
            assert [(run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end"),
                     run.status) for run in runs] == [("2017", "2018", DagsterRunStatus.SUCCESS)], log.read_text()[-3000:]
            (run,) = runs
            assert run.tags.get("dagster/backfill") == answer["backfillId"]
            done = {record.asset_key.to_user_string() for record in instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records}
            assert {"serving/bi_database", "reports/county_portraits", "marts/fct_early_warnings"} <= done
            record = warehouse.with_name(f"{warehouse.name}.inputs.json")  # by record_inputs_after_success
            given_up = time.monotonic() + 60  # the sensor looks every 5 s
            while not record.exists() and time.monotonic() < given_up:
                time.sleep(1)
        assert cli.main(["materialize", "2017", "2018"]) == 0
        assert "nothing new since the run that finished at" in capsys.readouterr().out, log.read_text()[-3000:]
        serving = warehouse.parent / "serving.duckdb"
        published = serving.stat().st_mtime_ns
        # 2018 materialised from the UI, and terminated from the UI once its dbt build has begun
        launched = ui(LAUNCH_RUN, {"executionParams": {
            "selector": {"repositoryLocationName": module[1], "repositoryName": "__repository__",
                         "jobName": "yearly_evaluation"},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2018"}]}}})["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        terminated = launched["run"]["runId"]
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 300
            while "jingtu_dbt_models" not in started_steps(instance, terminated) and time.monotonic() < deadline:
                time.sleep(0.2)
            answer = ui(TERMINATE_RUN_JOB_MUTATION, {"runId": terminated})["terminateRun"]
            assert answer["__typename"] == "TerminateRunSuccess", answer
            deadline = time.monotonic() + 120
            while instance.get_run_by_id(terminated).status not in TERMINAL and time.monotonic() < deadline:
                time.sleep(0.2)
            assert instance.get_run_by_id(terminated).status == DagsterRunStatus.CANCELED, log.read_text()[-3000:]
            (failure,) = instance.get_records_for_run(terminated, of_type=DagsterEventType.STEP_FAILURE).records
            assert failure.event_log_entry.step_key == "jingtu_dbt_models"
            assert "serving__bi_database" not in started_steps(instance, terminated)
            assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []
        connect(warehouse).close()  # free to write at once: no process of the run holds it
        assert serving.stat().st_mtime_ns == published
    finally:
        stop_session(daemon, grace=60)
    with connect(warehouse) as con:
        assert con.execute("select year, count(*) from marts.fct_county_evaluation group by 1 order by 1"
                           ).fetchall() == [(2017, 11), (2018, 11)]
    assert {p.name for p in (warehouse.parent / "reports").iterdir()} >= {"index.html", "portrait_2017.html",
                                                                         "portrait_2018.html", "plotly.min.js"}
    with connect(warehouse.parent / "serving.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_county_evaluation").fetchone()[0] >= 11
    # the terminated run wrote the warehouse: the next `jingtu materialize` of its years runs them whole
    current = inputs.fingerprint([2017, 2018], None, env["JINGTU_PII_SALT"])
    assert inputs.why_whole(current) == inputs.WHY_WHOLE["warehouse"]
    # no caller's phone in what the daemon, its code server and the run's process wrote or printed
    phones, _ = raw_callers(raw)
    written = personal_data_written(tmp_path, phones, (), besides=raw)
    assert {"dagster_home", "w", "daemon.log"} <= {path.parts[0] for path in written} and len(phones) > 1000
    assert {str(path): held for path, held in written.items() if held} == {}


def started_steps(instance: DagsterInstance, run_id: str) -> set[str]:
    return {record.event_log_entry.step_key for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.STEP_START, limit=1000).records}
