"""The warehouse as a Dagster resource: one DuckDB file, located by `JINGTU_WAREHOUSE`."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from orchestration import settings
from orchestration.lib.duck import connect

# Every step that opens the warehouse runs in this pool; dagster.yaml gives it one slot, because
# DuckDB allows one writing process per file.
WAREHOUSE_POOL = "duckdb_warehouse"


class Warehouse(ConfigurableResource):
    """Where the warehouse, the landing zone and the unit list live (defaults from the environment)."""

    database: str = ""
    raw_root: str = ""
    units_file: str = ""

    @property
    def database_path(self) -> Path:
        return Path(self.database) if self.database else settings.warehouse_path()

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_root) if self.raw_root else settings.raw_root()

    @property
    def units_path(self) -> Path:
        return Path(self.units_file) if self.units_file else settings.units_file()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.database_path)
        try:
            yield con
        finally:
            con.close()
