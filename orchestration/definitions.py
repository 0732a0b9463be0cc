"""The Dagster code location: it only assembles what the modules under defs/ declare."""

from dagster import Definitions
from dagster_dbt import DbtCliResource

from orchestration.dbt import DBT_EXECUTABLE, dbt_project
from orchestration.defs.automation import (
    annual_evaluation,
    monthly_job,
    monthly_warning_refresh,
    raw_files_changed,
    yearly_job,
)
from orchestration.defs.dbt_models import jingtu_dbt_models, jingtu_monitoring_models
from orchestration.defs.ingestion import ingestion_assets
from orchestration.resources import Warehouse

defs = Definitions(
    assets=[*ingestion_assets, jingtu_dbt_models, jingtu_monitoring_models],
    jobs=[yearly_job, monthly_job],
    schedules=[annual_evaluation, monthly_warning_refresh],
    sensors=[raw_files_changed],
    resources={"warehouse": Warehouse(), "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)},
)
