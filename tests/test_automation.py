"""Schedules and the raw/ sensor, evaluated with Dagster's test utilities."""

import json
import os
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.utils import make_new_run_id

from orchestration.defs.automation import annual_evaluation, monthly_warning_refresh, raw_files_changed
from orchestration.defs.dbt_models import MONTHS_TAG
from orchestration.lib.duck import connect
from tests.conftest import after_success

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_annual_evaluation_on_15_january_runs_the_year_just_ended():
    context = build_schedule_context(scheduled_execution_time=datetime(2019, 1, 15, 6, tzinfo=SHANGHAI))
    request = annual_evaluation(context)
    assert request.partition_key == "2018" and request.run_key == "annual-2018"


def test_the_monthly_refresh_on_the_2nd_runs_the_warnings_of_the_month_just_ended_then_publishes():
    for moment, month in ((datetime(2018, 7, 2, 6), "2018-06"), (datetime(2019, 1, 2, 6), "2018-12")):
        request = monthly_warning_refresh(build_schedule_context(scheduled_execution_time=moment.replace(tzinfo=SHANGHAI)))
        assert (request.partition_key, request.tags[MONTHS_TAG]) == (month[:4], f"{month}..{month}")
        selected = {key.to_user_string() for key in request.asset_selection}
        assert {"marts/fct_early_warnings", "marts/fct_monitoring_monthly", "reports/county_portraits",
                "serving/bi_database"} <= selected
        assert not {"raw/hotline", "marts/fct_county_evaluation"} & selected  # the year's evaluation is left alone


def evaluate(cursor=None):
    return raw_files_changed(build_sensor_context(cursor=cursor))


def requested(result) -> list[tuple[str, str, str, str]]:
    """Each run request's first and last year, its years if they do not follow one another, and the
    sources it reloads."""
    return [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"],
             r.tags.get("jingtu/years", ""), r.tags["jingtu/changed_sources"]) for r in result.run_requests]


def test_the_sensor_requests_the_years_with_new_files_once_in_one_run(raw, monkeypatch):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    first = evaluate()
    assert requested(first) == [("2015", "2018", "", "cases,development,hotline,inspections,surveys")]  # one run
    (request,) = first.run_requests
    assert AssetKey(["raw", "hotline"]) in request.asset_selection
    assert AssetKey(["marts", "fct_county_evaluation"]) in request.asset_selection
    assert {AssetKey(["reports", "county_portraits"]), AssetKey(["serving", "bi_database"])} <= set(request.asset_selection)
    assert isinstance(evaluate(first.cursor), SkipReason)  # nothing changed since


def test_the_sensor_requests_only_the_year_whose_files_changed(raw, monkeypatch):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    cursor = evaluate().cursor
    changed = raw / "surveys" / "2017" / "cepings_2017.csv"
    changed.write_bytes(changed.read_bytes() + b"")
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 1_000_000_000))
    result = evaluate(cursor)
    assert requested(result) == [("2017", "2017", "", "surveys")]
    assert AssetKey(["raw", "hotline"]) not in result.run_requests[0].asset_selection
    (raw / "cases" / "2016" / "cases_2016.csv").unlink()  # a removed file counts as a change
    (raw / "hotline" / "2018" / "12345_2018-13.csv").write_text("x")  # so does an added one
    again = evaluate(result.cursor)
    assert requested(again) == [("2016", "2018", "2016,2018", "cases,hotline")]  # one run, 2017 left alone
    assert json.loads(again.cursor).keys() == json.loads(cursor).keys()


def test_the_publishing_sensors_act_only_after_runs_that_left_their_asset_out():
    from orchestration.defs.reports import portraits_after_success
    from orchestration.defs.serving import publish_after_success

    whole_job, models_only = None, frozenset({AssetKey(["marts", "fct_early_warnings"])})
    assert isinstance(after_success(publish_after_success, whole_job), SkipReason)
    assert isinstance(after_success(portraits_after_success, whole_job), SkipReason)
    as_jingtu_runs_it = frozenset()  # the whole job, from execute_in_process
    assert isinstance(after_success(publish_after_success, as_jingtu_runs_it), SkipReason)
    assert isinstance(after_success(portraits_after_success, as_jingtu_runs_it), SkipReason)
    assert isinstance(after_success(publish_after_success, models_only), RunRequest)
    assert [r.partition_key for r in after_success(portraits_after_success, models_only)] == ["2018"]
    years = {"dagster/asset_partition_range_start": "2016", "dagster/asset_partition_range_end": "2018"}
    assert [r.partition_key for r in after_success(portraits_after_success, models_only, years)] == ["2018"]  # one run
    assert isinstance(after_success(publish_after_success, models_only | {AssetKey(["serving", "bi_database"])}),
                      SkipReason)


def test_the_monthly_refresh_rebuilds_its_month_alone_then_publishes(built_warehouse, tmp_path, monkeypatch):
    """The schedule's request, run: December 2018's monitoring rows come back as they were, November's
    (removed beforehand) stay missing, and the serving file has December."""
    from orchestration.definitions import defs
    from orchestration.defs.automation import yearly_job
    from tests.conftest import query

    warehouse = tmp_path / built_warehouse.name  # the file's stem is the catalog's name in dbt's views
    shutil.copyfile(built_warehouse, warehouse)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(warehouse))
    table = "marts.fct_monitoring_monthly"
    december = f"select * from {table} where month = '2018-12-01' order by all"
    before = query(warehouse, december)
    with connect(warehouse) as con:
        con.execute(f"delete from {table} where month >= '2018-11-01'")
    request = monthly_warning_refresh(build_schedule_context(scheduled_execution_time=datetime(2019, 1, 2, 6,
                                                                                                 tzinfo=SHANGHAI)))
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(yearly_job.name).execute_in_process(
            partition_key=request.partition_key, asset_selection=request.asset_selection, tags=request.tags,
            instance=instance, raise_on_error=False)
    assert result.success
    assert before and query(warehouse, december) == before
    assert query(warehouse, f"select count(*) from {table} where month = '2018-11-01'") == [(0,)]
    with connect(warehouse.parent / "serving.duckdb", read_only=True) as con:
        assert con.execute(f"select count(*) from {table} where month = '2018-12-01'").fetchone()[0] == len(before)


def test_runs_of_a_schedule_and_from_the_ui_are_recorded_and_the_next_materialize_follows_on(
        raw, warehouse, monkeypatch, tmp_path, capsys):
    """After `jingtu materialize 2018`: the monthly refresh's run; a survey file changed, then the survey
    models materialised from the UI; a file of cases changed, then the cases' raw asset alone, without
    the models that read it. Each recorded by the sensor, the next `jingtu materialize` runs the cases
    alone (it ran 2018 whole again when only its own runs were recorded)."""
    from orchestration import cli
    from orchestration.definitions import defs
    from orchestration.defs.automation import affected_by, yearly_job
    from orchestration.defs.serving import record_inputs_after_success

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert cli.main(["materialize", "2018"]) == 0
    refresh = monthly_warning_refresh(build_schedule_context(
        scheduled_execution_time=datetime(2019, 1, 2, 6, tzinfo=SHANGHAI)))
    runs = [(None, refresh.asset_selection, refresh.tags), ("surveys", affected_by(["surveys"]), {}),
            ("cases", [AssetKey(["raw", "cases"])], {})]
    with DagsterInstance.get() as instance:
        for changed, selection, tags in runs:
            if changed:
                path = next((raw / changed / "2018").iterdir())
                path.write_bytes(path.read_bytes() + b"\n")
            result = defs.resolve_job_def(yearly_job.name).execute_in_process(
                partition_key="2018", asset_selection=selection, tags=tags, instance=instance, raise_on_error=False)
            assert result.success
            (record,) = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.RUN_SUCCESS).records
            record_inputs_after_success(build_run_status_sensor_context(
                record_inputs_after_success.name, record.event_log_entry.dagster_event, instance,
                instance.get_run_by_id(result.run_id)))
    capsys.readouterr()
    assert cli.main(["materialize", "2018"]) == 0
    assert "materialising 2018 (files changed: cases) …" in capsys.readouterr().out


def test_a_model_materialised_alone_runs_its_tests_that_read_a_model_left_out(built_warehouse, tmp_path,
                                                                              monkeypatch):
    """As the UI materialises one asset: the evaluation alone, for 2018. Its test that every county code
    is in dim_county reads a model the run does not build, which dbt's indirect selection would drop:
    it runs, and with a unit missing from dim_county it fails the step."""
    from orchestration.definitions import defs
    from orchestration.defs.automation import yearly_job

    warehouse = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, warehouse)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(warehouse))
    with connect(warehouse) as con:
        con.execute("delete from marts.dim_county where county_code = '511102'")
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(yearly_job.name).execute_in_process(
            partition_key="2018", asset_selection=[AssetKey(["marts", "fct_county_evaluation"])], instance=instance,
            raise_on_error=False)
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert "fct_county_evaluation_county_code_in_dim_county" in failure.step_failure_data.user_failure_data.description


def test_the_runs_of_a_killed_jingtu_on_this_machine_are_ended_and_their_warehouse_slot_freed(tmp_path, monkeypatch):
    import socket
    import subprocess

    from orchestration import cli_runs
    from orchestration.dbt import step_target_folder
    from orchestration.defs.automation import killed_jingtu_runs
    from orchestration.resources import WAREHOUSE_POOL
    from tests.conftest import project_dagster_home

    home = project_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no process has now
    with DagsterInstance.get() as instance:
        runs = {}
        for name, pid, host in (("killed", gone.pid, socket.gethostname()), ("alive", os.getpid(), socket.gethostname()),
                                ("elsewhere", gone.pid, "another-machine")):
            run = DagsterRun(job_name="yearly_evaluation", run_id=make_new_run_id(), status=DagsterRunStatus.STARTED,
                             tags={cli_runs.CLI_PID_TAG: str(pid), cli_runs.CLI_HOST_TAG: host})
            instance.add_run(run)
            runs[name] = run.run_id
        instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)  # as a step does
        assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, runs["killed"],
                                                                 "jingtu_dbt_models").is_claimed
        left = step_target_folder(runs["killed"], "a1b2c3d")  # what its dbt step left
        left.mkdir(parents=True)
        result = killed_jingtu_runs(build_sensor_context(instance=instance))
        assert isinstance(result, SkipReason) and runs["killed"] in result.skip_message
        status = {name: instance.get_run_by_id(run_id).status for name, run_id in runs.items()}
        assert status == {"killed": DagsterRunStatus.FAILURE, "alive": DagsterRunStatus.STARTED,
                          "elsewhere": DagsterRunStatus.STARTED}
        assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
        assert not left.exists()
