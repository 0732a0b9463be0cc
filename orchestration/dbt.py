"""The dbt project as Dagster sees it, in a module of its own so that the CLI and the tests can
prepare the manifest before the definitions are imported (under `dagster dev`, importing this
module prepares it)."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from unittest import mock

from dagster import AssetExecutionContext, Output, TableColumn, TableSchema
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev
from packaging import version

from orchestration import settings
from orchestration.lib import bound_child
from orchestration.lib.duck import connect
from orchestration.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# The dbt installed beside this Python, so it works without an activated virtual environment.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
# What Dagster's steps run: that dbt, ended with the process that started it (lib/bound_child.py).
BOUND_DBT_EXECUTABLE = str(Path(sys.executable).parent / "jingtu-dbt")

# dbt's artefacts (manifest, saved parse) go to DBT_TARGET_PATH, dbt's and dagster-dbt's own variable,
# or target/ (the tests give each parallel worker its own).
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         target_path=Path(os.environ.get("DBT_TARGET_PATH", "target")))
# dbt's saved parse, which each Dagster step's dbt starts from (dagster-dbt copies it in).
PARTIAL_PARSE = DBT_PROJECT_DIR / dbt_project.target_path / "partial_parse.msgpack"


def _newest_source_change() -> float:
    files = [p for folder in ("models", "seeds", "macros", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*")]
    files += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    return max(p.stat().st_mtime for p in files if p.is_file())


def prepare_manifest() -> Path:
    """Run `dbt parse` when the manifest is missing or older than the dbt project's files."""
    manifest = dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_change():
        return manifest
    env = _in_warehouse_folder(DBT_PROJECT_DIR)  # parsed as the steps will find it (below)
    folder = Path(env.pop(bound_child.WORKING_DIRECTORY))
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                             "--profiles-dir", str(DBT_PROJECT_DIR)], capture_output=True, text=True, check=False,
                            cwd=folder, env={**os.environ, **env})
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}")
    return manifest


if using_dagster_dev():  # what dbt_project.prepare_if_dev() does, but it looks for `dbt` on PATH
    prepare_manifest()


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two steps it takes before every dbt invocation, which we do not
    need: running `dbt --version` in a subprocess, and building a dbt adapter in this process (used
    only to fetch column metadata and row counts, which we do not). Together they took 4–8 s per
    dbt step when they were removed (the pipeline benchmark's dbt stage, 5 steps: 98.8 → 76.7 s at
    17×, 103.1 → 62.9 s at 1×). Both override private members of dagster-dbt 0.29;
    tests/test_definitions.py fails if they disappear."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))  # DBT_EXECUTABLE's own package

    def _initialize_dbt_core_adapter(self, args):
        return None

    def build(self, context: AssetExecutionContext, partition: Mapping[str, str]) -> Iterator:
        """`dbt build` of the step's selection, the partition given in environment variables
        (`partition_env`, macros/partitions.sql) so that dbt can reuse its parse.

        dbt starts in the warehouse's folder (`_in_warehouse_folder`). Once it succeeds, its parse is
        kept for the next step, and the step's dbt target folder (4 MB) is removed; a failed step's
        stays, with its dbt.log."""
        bound = {**partition, **_in_warehouse_folder(Path(self.project_dir)), bound_child.PARENT: str(os.getpid())}
        with mock.patch.dict(os.environ, bound):  # dagster-dbt passes os.environ to dbt
            # --no-write-json: no manifest.json and run_results.json, which nothing reads (the step has
            # the manifest already), and which dbt writes out whole, the manifest twice. The log file at
            # info level: the nodes' outcomes and errors; dbt's debug lines (every statement, every
            # connection) cost more than many of the queries they log. A node's SQL stays in target/run.
            invocation = self.cli(["build", "--no-write-json", "--log-level-file", "info",
                                   "--project-dir", str(self.project_dir)], context=context)
        # held until dbt has exited: only then may this process open the warehouse to count rows
        yield from with_table_metadata(list(invocation.stream()), invocation.manifest)
        parse = invocation.target_path / PARTIAL_PARSE.name
        if parse.exists():  # a cache, replaced atomically: dbt checks it and re-parses on a mismatch
            os.replace(parse, PARTIAL_PARSE)
        shutil.rmtree(invocation.target_path)


def _in_warehouse_folder(project_dir: Path) -> dict[str, str]:
    """dbt started in the warehouse's folder and given the warehouse by its file name, so that its
    profile, and with it the saved parse, is the same for every warehouse of that name: dbt parses
    the whole project again when the profile's path changes. The units file, which a model reads
    relative to the dbt project, is then given in full."""
    warehouse = settings.warehouse_path().absolute()
    units = project_dir / os.environ.get("JINGTU_UNITS", "seeds/units.csv")
    # dagster-dbt gives dbt its target folder as the log folder too, which dbt reads from where it starts
    target = project_dir / os.environ.get("DBT_TARGET_PATH", "target")
    return {bound_child.WORKING_DIRECTORY: str(warehouse.parent), "JINGTU_DBT_WAREHOUSE": warehouse.name,
            "JINGTU_UNITS": str(units), "DBT_TARGET_PATH": str(target)}


def with_table_metadata(events: list, manifest: Mapping) -> list:
    """Each materialised table's row count and columns (name, type, its dbt description as persisted
    in the warehouse) added to its event: one query on DuckDB's catalog and a count per table, where
    dagster-dbt's own fetch_row_counts / fetch_column_metadata open an adapter and a thread per model.
    Views have no count (counting one would run it)."""
    tables = {}
    for event in events:
        if isinstance(event, Output) and "unique_id" in event.metadata:
            node = manifest["nodes"][event.metadata["unique_id"].value]
            tables[f"{node['schema']}.{node['alias']}"] = event
    if not tables:
        return events
    with connect(settings.warehouse_path(), read_only=False) as con:
        columns: dict[str, list[TableColumn]] = {}
        for schema, table, column, data_type, comment in con.execute(
                "select schema_name, table_name, column_name, data_type, comment from duckdb_columns()"
                " where database_name = current_database() and not internal order by column_index").fetchall():
            columns.setdefault(f"{schema}.{table}", []).append(TableColumn(column, data_type, comment))
        built = {f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()").fetchall()}
        counts = {name: con.execute(f"select count(*) from {name}").fetchone()[0] for name in tables if name in built}
    names = {id(event): name for name, event in tables.items()}
    out = []
    for event in events:
        name = names.get(id(event))
        if name in counts:
            event = event.with_metadata({**event.metadata, "dagster/row_count": counts[name],
                                         "dagster/column_schema": TableSchema(columns[name])})
        out.append(event)
    return out


def partition_env(year: str | int | None = None, months: tuple[str, str] | None = None,
                  years: tuple[str, str] | None = None) -> dict[str, str]:
    """The environment selecting a dbt build's partition: one year, a range of years ('2015', '2018'),
    a range of months ('2018-01', '2018-06'), or (empty values) everything."""
    selected = "" if year is None else str(int(year))
    if years is not None:
        selected = str(int(years[0])) if years[0] == years[1] else f"{int(years[0])}..{int(years[1])}"
    return {"JINGTU_DBT_YEAR": selected, "JINGTU_DBT_MONTHS": "" if months is None else "..".join(months)}
