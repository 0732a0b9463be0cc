"""The county portraits (精准画像): a yearly asset writing one HTML page per year and the index,
refreshed after every successful evaluation or warnings run, however it was started."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    run_status_sensor,
)

from orchestration import portrait, settings
from orchestration.defs.automation import PORTRAITS, RUN_STATUS_SENSOR_SECONDS, yearly_job
from orchestration.defs.serving import published_by
from orchestration.lib.duck import RUN_LOCK_WAIT, connect
from orchestration.partitions import run_years, yearly, years_of
from orchestration.resources import WAREHOUSE_POOL, Warehouse

# What a page reads: the year's evaluation and its early warnings.
READS = [AssetKey(["marts", name]) for name in ("fct_county_evaluation", "fct_grade_confidence", "fct_indicators",
                                                  "fct_components", "dim_county", "fct_early_warnings",
                                                  "fct_warning_funnels")]


@asset(key=PORTRAITS, deps=READS, partitions_def=yearly, group_name="reports",
       pool=WAREHOUSE_POOL, kinds={"html"}, backfill_policy=BackfillPolicy.single_run(),
       description="The county portraits (精准画像): one self-contained HTML page per evaluated year under "
                   "JINGTU_REPORTS (warehouse/reports/ by default) with the ranking, each unit's indicators, trend, "
                   "components, scores and early warnings, and the monitoring funnel plots; plus index.html. Every "
                   "run rewrites every year's page: each shows every year's composites and links every year.")
def county_portraits(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """The page of every evaluated year, whatever the run's years: each page draws every year's
    composite (the trend) and links every year, and a year's warnings reach back into the months
    before it, so a run for one year changes the others' pages too."""
    out = settings.reports_dir(warehouse.database_path)
    pages = []
    with connect(warehouse.database_path, read_only=True, wait=RUN_LOCK_WAIT) as con:
        for year in sorted(set(portrait.evaluated_years(con)) | set(run_years(context))):
            try:
                pages.append(portrait.render_year(con, year, out))
            except LookupError as nothing:  # a year of the range without an evaluation
                context.log.info(str(nothing))
        index = portrait.render_index(con, out)
    for page in pages:
        context.log.info(f"county portraits: {page}")
    return MaterializeResult(metadata={"pages": MetadataValue.json([str(p) for p in pages]),
                                       "index": MetadataValue.path(str(index)),
                                       "bytes": sum(p.stat().st_size for p in pages)})


portraits_job = define_asset_job("county_portraits", selection=[county_portraits.key],
                                 executor_def=in_process_executor, description="Write the county portraits.")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[yearly_job],
                   request_job=portraits_job, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=RUN_STATUS_SENSOR_SECONDS)
def portraits_after_success(context):
    """After a successful run of the yearly job that left the portraits out (a selection made in the
    UI, say), rewrite the portraits, so that every page shows the latest grades and warnings: one run,
    in the partition of the run's last year, writes every year's page."""
    if published_by(context.dagster_run, PORTRAITS):
        return SkipReason("the run wrote the portraits itself")
    return [RunRequest(run_key=f"portraits-{context.dagster_run.run_id}", partition_key=year)
            for year in map(str, years_of(context.dagster_run)[-1:])]
