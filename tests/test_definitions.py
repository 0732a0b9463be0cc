"""The code location loads, and its asset graph is what we expect (a change shows here in review)."""

from datetime import datetime

from dagster import AssetKey

from orchestration.definitions import defs
from orchestration.partitions import yearly


def test_definitions_load_with_one_ingestion_asset_per_source():
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == {"raw/hotline", "raw/cases", "raw/inspections", "raw/surveys", "raw/development"}


def test_every_asset_is_yearly_partitioned_and_in_the_warehouse_pool():
    for key in defs.resolve_all_asset_keys():
        node = defs.resolve_assets_def(key)
        assert node.partitions_def == yearly
        assert node.op.pool == "duckdb_warehouse"
        assert node.specs_by_key[key].group_name == "raw"


def test_yearly_partitions_run_from_2015_to_the_current_year():
    keys = yearly.get_partition_keys(current_time=datetime(2026, 11, 28))
    assert keys[0] == "2015" and keys[-1] == "2026" and len(keys) == 12


def test_ingestion_assets_have_descriptions_naming_their_tables():
    node = defs.resolve_assets_def(AssetKey(["raw", "hotline"]))
    assert "raw.hotline" in node.descriptions_by_key[AssetKey(["raw", "hotline"])]
