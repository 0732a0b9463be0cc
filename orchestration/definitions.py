"""The Dagster code location: it only assembles what the modules under defs/ declare."""

from dagster import Definitions

from orchestration.dbt import Dbt
from orchestration.defs.automation import (
    annual_evaluation,
    killed_jingtu_runs,
    monthly_warning_refresh,
    raw_files_changed,
    yearly_job,
)
from orchestration.defs.dbt_models import jingtu_dbt_models
from orchestration.defs.ingestion import ingestion_assets
from orchestration.defs.quality import quality_checks
from orchestration.defs.reports import county_portraits, portraits_after_success, portraits_job
from orchestration.defs.serving import (
    bi_database,
    publish_after_success,
    publish_job,
    record_inputs_after_success,
)
from orchestration.resources import Warehouse

defs = Definitions(
    assets=[*ingestion_assets, jingtu_dbt_models, bi_database, county_portraits],
    asset_checks=quality_checks,
    jobs=[yearly_job, publish_job, portraits_job],
    schedules=[annual_evaluation, monthly_warning_refresh],
    sensors=[raw_files_changed, publish_after_success, portraits_after_success, record_inputs_after_success,
             killed_jingtu_runs],
    resources={"warehouse": Warehouse(), "dbt": Dbt()},
)
