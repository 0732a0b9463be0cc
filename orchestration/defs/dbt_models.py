"""Every dbt model, seed and test as Dagster assets and checks, partitioned by year like the raw layer."""

import json
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt import dbt_project
from orchestration.partitions import yearly
from orchestration.resources import WAREHOUSE_POOL


def dbt_build_args(partition_key: str | None) -> list[str]:
    """`dbt build` for one year partition (the models filter on `var('year')`), or for every year."""
    args = ["build"]
    if partition_key is not None:
        args += ["--vars", json.dumps({"year": int(partition_key)})]
    return args


class JingtuTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The model's folder (staging, intermediate, marts); seeds are configuration."""
        if dbt_resource_props["resource_type"] == "seed":
            return "config"
        return dbt_resource_props["fqn"][1]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=yearly,
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=JingtuTranslator(),
)
def jingtu_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(dbt_build_args(context.partition_key), context=context).stream()
