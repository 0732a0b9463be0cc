"""Jobs, schedules and the raw/ sensor: the annual evaluation, the monthly warnings, and ingestion
of a year whose files changed."""

import json
from datetime import datetime

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from orchestration.defs.dbt_models import jingtu_dbt_models
from orchestration.inputs import raw_fingerprints
from orchestration.partitions import TIMEZONE, monthly, yearly

MONITORING = AssetSelection.groups("monitoring")
SERVING = AssetSelection.groups("serving")
REPORTS = AssetSelection.groups("reports")  # written after the run (defs/reports.py)
# How often the sensors that publish and write the portraits after a successful run look for one
# (Dagster's default is 30 s): BI users and the portraits catch up within seconds.
RUN_STATUS_SENSOR_SECONDS = 5

# Every step opens the warehouse, so the pool runs them one at a time anyway: in-process execution
# spares a Python start-up per step (~5–10 s each under the multiprocess executor).
yearly_job = define_asset_job("yearly_evaluation", selection=AssetSelection.all() - MONITORING - SERVING - REPORTS,
                              partitions_def=yearly, executor_def=in_process_executor,
                              description="Ingest one year and build its evaluation.")
monthly_job = define_asset_job("monthly_warnings", selection=MONITORING, partitions_def=monthly,
                               executor_def=in_process_executor,
                               description="Build one month's monitoring marts and early warnings.")


NO_DATA = ("no raw data for {period} under raw/ when the code location loaded: nothing to run (a period"
           " delivered since joins when the location reloads)")


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


@schedule(cron_schedule="0 6 2 * *", job=monthly_job, execution_timezone=TIMEZONE,
          default_status=DefaultScheduleStatus.STOPPED)
def monthly_warning_refresh(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """The 2nd of each month: the early warnings of the month just ended."""
    month = previous_month(context.scheduled_execution_time)
    if month not in monthly.get_partition_keys():
        return SkipReason(NO_DATA.format(period=month))
    return RunRequest(run_key=f"warnings-{month}", partition_key=month)


@sensor(job=yearly_job, minimum_interval_seconds=60)
def raw_files_changed(context: SensorEvaluationContext):
    """Requests the ingestion (and the year's models) of each year whose files under raw/ were
    added, changed or removed since the last evaluation; unchanged years are left alone."""
    before = json.loads(context.cursor) if context.cursor else {}
    now = raw_fingerprints()
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
    # A year's run reloads its changed sources and rebuilds the year's models, nothing else.
    requests = [
        RunRequest(
            run_key="raw-" + "-".join(f"{s}:{now.get(f'{s}/{year}', 'removed')[:12]}" for s in sources) + f"-{year}",
            partition_key=year,
            asset_selection=[AssetKey(["raw", s]) for s in sources] + sorted(jingtu_dbt_models.keys),
            tags={"jingtu/changed_sources": ",".join(sources)},
        )
        for year, sources in sorted(years.items())
    ]
    return SensorResult(run_requests=requests, cursor=json.dumps(now))
