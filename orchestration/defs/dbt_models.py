"""Every dbt model, seed and test as Dagster assets and checks, partitioned by year like the raw layer."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from orchestration.dbt import DbtCli, dbt_project, partition_env
from orchestration.partitions import monthly, yearly
from orchestration.resources import WAREHOUSE_POOL

MONITORING = "path:models/monitoring"


class JingtuTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The model's folder (staging, intermediate, marts); seeds are configuration."""
        if dbt_resource_props["resource_type"] == "seed":
            return "config"
        return dbt_resource_props["fqn"][1]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=MONITORING,
    partitions_def=yearly,
    backfill_policy=BackfillPolicy.single_run(),  # a range of years is one dbt build
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_dbt_models(context: AssetExecutionContext, dbt: DbtCli):
    """The evaluation: staging, components, indicators, grades and the report's marts, for the run's
    year or range of years in a single dbt build."""
    years = context.partition_key_range
    yield from dbt.build(context, partition_env(years=(years.start, years.end)))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=MONITORING,
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.single_run(),  # months are cheap: a backfill is one dbt run
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_monitoring_models(context: AssetExecutionContext, dbt: DbtCli):
    """The early warnings (监土), per month; a range of months in a single dbt run."""
    months = context.partition_key_range
    yield from dbt.build(context, partition_env(months=(months.start, months.end)))
