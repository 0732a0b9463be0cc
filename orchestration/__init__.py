"""Jingtu (净土): the Dagster code location, the `jingtu` CLI and what they share."""

import warnings

# Notices about Dagster features this project uses on purpose, which a user can do nothing about:
# quieted by their exact words wherever the package is imported (the CLI, `dagster dev`'s code server).
QUIETED_WARNINGS = (
    "Specifying a partitions_def on an AssetCheckSpec is currently in preview",  # the per-year checks
    "Asset job .* materializes assets with varying BackfillPolicies",  # `jingtu` runs a year at a time
    "Parameter `backfill_policy` of function `asset` is currently in beta",  # a range of years in one run
    "AssetExecutionContext.op is deprecated",  # dagster-dbt's own call, when it selects a run's models
)


def quiet_notices() -> None:
    for message in QUIETED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


quiet_notices()
