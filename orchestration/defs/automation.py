"""The job, schedules and the raw/ sensor: the annual evaluation, the monthly refresh of the warnings,
and ingestion of the years whose files changed. Each is a run of the one yearly job, which ingests, checks,
builds every dbt model in one invocation, writes the portraits and publishes the serving file."""

import json
from collections.abc import Iterable
from datetime import datetime

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterRun,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    HookContext,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
    success_hook,
)

from orchestration import cli_runs, inputs
from orchestration.contracts import SOURCES
from orchestration.defs.dbt_models import MONTHS_TAG, jingtu_dbt_models
from orchestration.partitions import TIMEZONE, yearly, years_tags

# How often the sensors that publish and write the portraits after a run that left them out look for
# one (Dagster's default is 30 s): BI users and the portraits catch up within seconds.
RUN_STATUS_SENSOR_SECONDS = 5
# The assets every run ends with, whatever it selects (their definitions: defs/reports.py, defs/serving.py).
PORTRAITS, SERVING_FILE = AssetKey(["reports", "county_portraits"]), AssetKey(["serving", "bi_database"])
AFTER_THE_MODELS = [PORTRAITS, SERVING_FILE]


@success_hook(required_resource_keys={"warehouse"})
def keep_run_record(context: HookContext) -> None:
    """After each step of a run: what the run has brought up to date so far (`inputs.run_record`), with
    the warehouse and the serving file as the step left them. It becomes the last run, which the next
    `jingtu materialize` follows on from, once the run has succeeded (the sensor
    `record_inputs_after_success`, or `jingtu materialize` itself)."""
    start = context.resources.warehouse.run_start
    if start is None:
        return
    if record := inputs.run_record(start, reloaded(context.instance.get_run_by_id(context.run_id))):
        inputs.note_step(context.run_id, record)


def reloaded(run: DagsterRun) -> set[str]:
    """The sources a run reloaded in its years along with all that reads them (a selection made in the
    UI may leave some of it out; a run narrowed to some months rebuilds their warnings alone)."""
    if run.job_name != yearly_job.name or MONTHS_TAG in run.tags:
        return set()
    if not run.asset_selection:  # the whole job (None; an empty set from execute_in_process)
        return set(SOURCES)
    return {source for source in SOURCES if set(affected_by([source])) <= run.asset_selection}


# Every step opens the warehouse, so the pool runs them one at a time anyway: in-process execution
# spares the multiprocess executor's Python start-up and imports for every step.
yearly_job = define_asset_job("yearly_evaluation", selection=AssetSelection.all(),
                              executor_def=in_process_executor, hooks={keep_run_record},
                              description="Ingest a year or years, check them, build their evaluation and"
                                          " early warnings, write their portraits and publish the serving file.")


NO_DATA = ("no raw data for {period} under raw/ when the code location loaded: nothing to run (a period"
           " delivered since joins when the location reloads)")


def affected_by(sources: Iterable[str]) -> list[AssetKey]:
    """What a change in the files of `sources` can change: their raw assets, every dbt model that reads
    them, directly or not (with its tests), the portraits and the serving file. The other models'
    inputs are unchanged, so their rows would be too. A test of theirs that also reads another model
    runs all the same (`Dbt.build`, orchestration/dbt.py)."""
    affected = {AssetKey(["raw", source]) for source in sources}
    while more := {key for key, deps in jingtu_dbt_models.asset_deps.items() if key not in affected and deps & affected}:
        affected |= more
    return sorted(affected) + AFTER_THE_MODELS


def of_group(assets: AssetsDefinition, group: str) -> list[AssetKey]:
    return [key for key, spec in assets.specs_by_key.items() if spec.group_name == group]


def previous_year(moment: datetime) -> str:
    return str(moment.year - 1)


def previous_month(moment: datetime) -> str:
    return f"{moment.year - 1}-12" if moment.month == 1 else f"{moment.year}-{moment.month - 1:02d}"


@schedule(cron_schedule="0 6 15 1 *", job=yearly_job, execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.STOPPED)
def annual_evaluation(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """15 January: the evaluation of the year just ended."""
    year = previous_year(context.scheduled_execution_time)
    if year not in yearly.get_partition_keys():
        return SkipReason(NO_DATA.format(period=year))
    return RunRequest(run_key=f"annual-{year}", partition_key=year)


@schedule(cron_schedule="0 6 2 * *", job=yearly_job, execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.STOPPED)
def monthly_warning_refresh(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """The 2nd of each month: the early warnings of the month just ended (in its year's partition;
    no later month has data yet), then the portraits and the serving file."""
    month = previous_month(context.scheduled_execution_time)
    if month[:4] not in yearly.get_partition_keys():
        return SkipReason(NO_DATA.format(period=month))
    return RunRequest(run_key=f"warnings-{month}", partition_key=month[:4],
                      asset_selection=sorted(of_group(jingtu_dbt_models, "monitoring")) + AFTER_THE_MODELS,
                      tags={MONTHS_TAG: f"{month}..{month}"})


@sensor(job=yearly_job, minimum_interval_seconds=60)
def raw_files_changed(context: SensorEvaluationContext):
    """Requests the ingestion (and the models) of the years whose files under raw/ were added,
    changed or removed since the last evaluation, in one run; unchanged years are left alone."""
    before = json.loads(context.cursor) if context.cursor else {}
    now = inputs.raw_fingerprints()
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if not changed:
        return SkipReason("no file under raw/ changed")
    years: dict[str, list[str]] = {}
    known = set(yearly.get_partition_keys())
    for key in changed:
        source, year = key.split("/")
        if year not in known:  # not in the cursor either: requested once the location has reloaded
            context.log.warning(f"raw/{key} is a year the code location did not see when it loaded:"
                                " reload it (the UI's Reload) to add the year")
            now.pop(key, None)
            continue
        years.setdefault(year, []).append(source)
    if not years:
        return SensorResult(skip_reason="only years the code location does not know yet changed: reload it",
                            cursor=json.dumps(now))
    # One run for the years, as `jingtu materialize` does: it reloads their changed sources and rebuilds
    # the models that read them, nothing else.
    sources = sorted(set().union(*years.values()))
    request = RunRequest(
        run_key="raw-" + "-".join(f"{s}:{now.get(f'{s}/{year}', 'removed')[:12]}-{year}"
                                  for year, changed_sources in sorted(years.items()) for s in changed_sources),
        asset_selection=affected_by(sources),
        tags={"jingtu/changed_sources": ",".join(sources), **years_tags(sorted(map(int, years)))},
    )
    return SensorResult(run_requests=[request], cursor=json.dumps(now))


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def killed_jingtu_runs(context: SensorEvaluationContext) -> SkipReason:
    """Ends the runs of a `jingtu materialize` killed on this machine (kill -9, out of memory), which
    stay STARTED holding the warehouse slot: a run from the UI or a schedule would wait for it until
    the next `jingtu`, which ends them too."""
    ended = cli_runs.release_dead(context.instance)
    return SkipReason(f"ended {len(ended)} run(s) of a killed jingtu: {', '.join(ended)}" if ended
                      else "no run of a killed jingtu")
