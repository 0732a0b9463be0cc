"""Every dbt model, seed and test as Dagster assets and checks, partitioned by year like the raw layer:
one dbt build per run, the early warnings (监土) of the year's months included."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from orchestration.dbt import Dbt, dbt_project, partition_env
from orchestration.partitions import run_years, yearly
from orchestration.resources import WAREHOUSE_POOL, Warehouse

# A run tag narrowing the monitoring marts to a range of months of the run's year ('2018-12..2018-12'):
# they are then built from its first month on; without it, from January of the run's first year on.
MONTHS_TAG = "jingtu/months"


class JingtuTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The model's folder (staging, intermediate, marts, monitoring); seeds are configuration."""
        if dbt_resource_props["resource_type"] == "seed":
            return "config"
        return dbt_resource_props["fqn"][1]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=yearly,
    backfill_policy=BackfillPolicy.single_run(),  # a range of years is one dbt build
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_dbt_models(context: AssetExecutionContext, dbt: Dbt, warehouse: Warehouse):
    """The evaluation (staging, components, indicators, grades, the report's marts) and the monthly
    early warnings, for the run's years in a single dbt build."""
    months = context.run.tags.get(MONTHS_TAG)
    yield from dbt.build(context, partition_env(years=run_years(context),
                                                months=tuple(months.split("..")) if months else None),
                         warehouse.database_path, warehouse.units_path)
