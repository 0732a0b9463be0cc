"""Yearly partitions for the evaluation (2015 to the current year; Dagster has no yearly class),
monthly ones for the early-warning monitoring."""

from dagster import MonthlyPartitionsDefinition, TimeWindowPartitionsDefinition

FIRST_YEAR = 2015
TIMEZONE = "Asia/Shanghai"

yearly = TimeWindowPartitionsDefinition(
    start=str(FIRST_YEAR),
    fmt="%Y",
    cron_schedule="0 0 1 1 *",
    timezone=TIMEZONE,
    end_offset=1,  # include the current, unfinished year
)

monthly = MonthlyPartitionsDefinition(
    start_date=f"{FIRST_YEAR}-01",
    fmt="%Y-%m",
    timezone=TIMEZONE,
    end_offset=1,  # include the current, unfinished month
)
