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

from orchestration import settings
from orchestration.defs.automation import RUN_STATUS_SENSOR_SECONDS, SERVING_FILE, yearly_job
from orchestration.defs.dbt_models import jingtu_dbt_models
from orchestration.resources import WAREHOUSE_POOL, Warehouse
from orchestration.serving import publish

MART_KEYS = sorted(k for k in jingtu_dbt_models.keys if k.path[0] == "marts")


@asset(key=SERVING_FILE, deps=MART_KEYS, group_name="serving", pool=WAREHOUSE_POOL,
       kinds={"duckdb"}, description="Every mart copied to the serving file (JINGTU_SERVING) by an atomic swap.")
def bi_database(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    target = settings.serving_path()
    counts = publish(warehouse.database_path, target)
    context.log.info(f"published {len(counts)} tables to {target}")
    return MaterializeResult(metadata={"path": str(target), "tables": len(counts), **counts})


publish_job = define_asset_job("publish_serving", selection=[bi_database.key], executor_def=in_process_executor,
                               description="Publish the marts to the serving file.")


def published_by(run: DagsterRun, key: AssetKey) -> bool:
    """Whether the run materialised `key` itself: it ran the whole job, or a selection with `key` in it."""
    return run.asset_selection is None or key in run.asset_selection


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[yearly_job],
                   request_job=publish_job, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=RUN_STATUS_SENSOR_SECONDS)
def publish_after_success(context):
    """After a successful run of the yearly job that left the serving file out (a selection made in
    the UI, say), republish it. Running by default: BI users must not be left on stale data because
    nobody switched a sensor on."""
    if published_by(context.dagster_run, SERVING_FILE):
        return SkipReason("the run published the serving file itself")
    return RunRequest(run_key=f"publish-after-{context.dagster_run.run_id}")
