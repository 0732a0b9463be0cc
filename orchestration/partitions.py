"""Yearly partitions shared by every asset: 2015 to the current year (Dagster has no yearly class)."""

from dagster import TimeWindowPartitionsDefinition

FIRST_YEAR = 2015

yearly = TimeWindowPartitionsDefinition(
    start=str(FIRST_YEAR),
    fmt="%Y",
    cron_schedule="0 0 1 1 *",
    timezone="Asia/Shanghai",
    end_offset=1,  # include the current, unfinished year
)
