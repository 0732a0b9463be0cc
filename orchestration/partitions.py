"""Yearly partitions for the evaluation (Dagster has no yearly class), monthly ones for the
early-warning monitoring: only the periods that can have data.

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


def partitions(raw: Path, now: datetime | None = None) -> tuple[TimeWindowPartitionsDefinition,
                                                                 TimeWindowPartitionsDefinition]:
    """(yearly, monthly) for the data under `raw`: its first year to its last, months up to the current one."""
    now = now or datetime.now(ZoneInfo(TIMEZONE))
    years = settings.years_with_data(raw)
    first, last = (years[0], years[-1]) if years else (FIRST_YEAR, now.year)
    end_month = f"{last + 1}-01" if last < now.year else f"{now.year + now.month // 12}-{now.month % 12 + 1:02d}"
    # end_offset=1: the current, unfinished year and month are partitions too
    yearly = TimeWindowPartitionsDefinition(start=str(first), end=str(last + 1), fmt="%Y",
                                            cron_schedule="0 0 1 1 *", timezone=TIMEZONE, end_offset=1)
    monthly = TimeWindowPartitionsDefinition(start=f"{first}-01", end=end_month, fmt="%Y-%m",
                                             cron_schedule="0 0 1 * *", timezone=TIMEZONE, end_offset=1)
    return yearly, monthly


yearly, monthly = partitions(settings.raw_root())
