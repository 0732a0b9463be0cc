"""Every dbt model, seed and test as Dagster assets and checks, partitioned by year like the raw layer."""

import json
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt import dbt_project
from orchestration.partitions import monthly, yearly
from orchestration.resources import WAREHOUSE_POOL

MONITORING = "path:models/monitoring"


def dbt_build_args(partition_key: str | None) -> list[str]:
    """`dbt build` for one year (the models filter on `var('year')`), or for every year."""
    args = ["build"]
    if partition_key is not None:
        args += ["--vars", json.dumps({"year": int(partition_key)})]
    return args


def dbt_monitoring_args(first_month: str, last_month: str) -> list[str]:
    """`dbt build` for the months first_month … last_month ('2018-01'), in a single run."""
    return ["build", "--vars", json.dumps({"month_from": first_month, "month_to": last_month})]


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
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """The evaluation: staging, components, indicators, grades and the report's marts, per year."""
    yield from dbt.cli(dbt_build_args(context.partition_key), context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=MONITORING,
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.single_run(),  # months are cheap: a backfill is one dbt run
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_monitoring_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """The early warnings (监土), per month."""
    months = context.partition_key_range
    yield from dbt.cli(dbt_monitoring_args(months.start, months.end), context=context).stream()
