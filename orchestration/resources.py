"""The warehouse as a Dagster resource: one DuckDB file, located by `JINGTU_WAREHOUSE`."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from orchestration import inputs, settings
from orchestration.lib.duck import RUN_LOCK_WAIT, connect
from orchestration.partitions import years_of

# Every step that opens the warehouse runs in this pool; dagster.yaml gives it one slot, because
# DuckDB allows one writing process per file.
WAREHOUSE_POOL = "duckdb_warehouse"


class Warehouse(ConfigurableResource):
    """Where the warehouse, the landing zone and the unit list live (defaults from the environment)."""

    database: str = ""
    raw_root: str = ""
    units_file: str = ""
    _run_start: inputs.RunStart | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Before a run's first step (the in-process executor sets its resources up once): what the run
        starts from, for its steps to record what it ran (`keep_run_record`, defs/automation.py). Only
        for the warehouse of the environment, which `jingtu materialize` follows on from."""
        if context.run is not None and not (self.database or self.raw_root or self.units_file):
            self._run_start = inputs.run_start(years_of(context.run))

    @property
    def run_start(self) -> inputs.RunStart | None:
        return self._run_start

    @property
    def database_path(self) -> Path:
        return Path(self.database).absolute() if self.database else settings.warehouse_path()

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_root).absolute() if self.raw_root else settings.raw_root()

    @property
    def units_path(self) -> Path:
        return Path(self.units_file).absolute() if self.units_file else settings.units_file()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.database_path, wait=RUN_LOCK_WAIT)
        try:
            yield con
        finally:
            con.close()
