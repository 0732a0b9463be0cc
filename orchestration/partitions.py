"""Yearly partitions (Dagster has no yearly class): only the years that can have data. The monthly
early warnings are built with their year (a run may narrow them to a month: defs/dbt_models.py).

They span the years that have a folder under raw/ when the code location loads (with nothing landed
yet, every year from the programme's first to the current one). A new year's folder joins when the
code location reloads: `jingtu` loads it afresh each time; in the UI, Reload the location.
"""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import TimeWindowPartitionsDefinition

from orchestration import settings

FIRST_YEAR = 2015  # the programme's first evaluation
TIMEZONE = "Asia/Shanghai"


def partitions(raw: Path, now: datetime | None = None) -> TimeWindowPartitionsDefinition:
    """The years of the data under `raw`, its first to its last."""
    now = now or datetime.now(ZoneInfo(TIMEZONE))
    years = settings.years_with_data(raw)
    first, last = (years[0], years[-1]) if years else (FIRST_YEAR, now.year)
    # end_offset=1: the current, unfinished year is a partition too
    return TimeWindowPartitionsDefinition(start=str(first), end=str(last + 1), fmt="%Y",
                                          cron_schedule="0 0 1 1 *", timezone=TIMEZONE, end_offset=1)


yearly = partitions(settings.raw_root())

# A run of years that do not follow one another (2015 and 2018) spans the range of partitions from
# the first to the last and names its years in this tag: the years between are left alone.
YEARS_TAG = "jingtu/years"


def run_years(context) -> list[int]:
    """The years a run materialises: its partition, its range, or the years its YEARS_TAG names."""
    return years_of(context.run) if YEARS_TAG in context.run.tags else [int(key) for key in context.partition_keys]


def years_of(run) -> list[int]:
    """The years of a DagsterRun, from its tags: its partition, its range, or its YEARS_TAG (for what
    has the run but no partition keys: a resource, a sensor)."""
    if named := run.tags.get(YEARS_TAG):
        return sorted(int(year) for year in named.split(","))
    first = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")
    last = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_end")
    return list(range(int(first), int(last) + 1)) if first and last else []


def years_tags(years: list[int]) -> dict[str, str]:
    """The tags of one run materialising `years` (sorted): a range of partitions, and YEARS_TAG when
    they do not all follow one another."""
    tags = {"dagster/asset_partition_range_start": str(years[0]), "dagster/asset_partition_range_end": str(years[-1])}
    if not settings.consecutive(years):
        tags[YEARS_TAG] = ",".join(map(str, years))
    return tags
