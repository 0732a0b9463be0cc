"""The Dagster code location: it only assembles what the modules under defs/ declare."""

from dagster import Definitions

from orchestration.defs.ingestion import ingestion_assets
from orchestration.resources import Warehouse

defs = Definitions(
    assets=[*ingestion_assets],
    resources={"warehouse": Warehouse()},
)
