"""The read-only serving database for BI tools, republished after every successful run."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    RunRequest,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    run_status_sensor,
)

from orchestration import cli_runs, inputs, settings
from orchestration.defs.automation import RUN_STATUS_SENSOR_SECONDS, SERVING_FILE, keep_run_record, yearly_job
from orchestration.defs.dbt_models import jingtu_dbt_models
from orchestration.lib.duck import RUN_LOCK_WAIT
from orchestration.resources import WAREHOUSE_POOL, Warehouse
from orchestration.serving import publish

MART_KEYS = sorted(k for k in jingtu_dbt_models.keys if k.path[0] == "marts")


@asset(key=SERVING_FILE, deps=MART_KEYS, group_name="serving", pool=WAREHOUSE_POOL,
       kinds={"duckdb"}, description="Every mart copied to the serving file (JINGTU_SERVING) by an atomic swap.")
def bi_database(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    target = settings.serving_path(warehouse.database_path)
    counts = publish(warehouse.database_path, target, wait=RUN_LOCK_WAIT)
    context.log.info(f"published {len(counts)} tables to {target}")
    return MaterializeResult(metadata={"path": str(target), "tables": len(counts), **counts})


publish_job = define_asset_job("publish_serving", selection=[bi_database.key], executor_def=in_process_executor,
                               hooks={keep_run_record}, description="Publish the marts to the serving file.")


def published_by(run: DagsterRun, key: AssetKey) -> bool:
    """Whether the run materialised `key` itself: it ran the whole job (no selection: None, or an empty
    set from execute_in_process, as `jingtu materialize` runs it), or a selection with `key` in it."""
    return not run.asset_selection or key in run.asset_selection


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[yearly_job],
                   request_job=publish_job, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=RUN_STATUS_SENSOR_SECONDS)
def publish_after_success(context):
    """After a successful run of the yearly job that left the serving file out (a selection made in
    the UI, say), republish it. Running by default: BI users must not be left on stale data because
    nobody switched a sensor on."""
    if published_by(context.dagster_run, SERVING_FILE):
        return SkipReason("the run published the serving file itself")
    # The run recorded first (as record_inputs_after_success would, maybe later): the publication's run
    # then follows on from it, and is recorded in turn.
    inputs.promote(context.dagster_run.run_id)
    return RunRequest(run_key=f"publish-after-{context.dagster_run.run_id}")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[yearly_job, publish_job],
                   default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=RUN_STATUS_SENSOR_SECONDS)
def record_inputs_after_success(context) -> SkipReason:
    """After a successful run from the UI, a schedule or the raw/ sensor: what it ran becomes the last
    run, which `jingtu materialize` follows on from (it records its own runs at once), so that the
    next `make run` does not run every year whole again."""
    run_id = context.dagster_run.run_id
    if inputs.promote(run_id):
        return SkipReason(f"recorded what run {run_id} ran: the next jingtu materialize follows on from it")
    if cli_runs.CLI_RUN_TAG in context.dagster_run.tags:
        return SkipReason(f"run {run_id} is a jingtu materialize's, which records its runs itself")
    return SkipReason(f"nothing recorded for run {run_id}: it did not follow on from the last recorded run, nor"
                      " run its years whole, or the warehouse was written since")
