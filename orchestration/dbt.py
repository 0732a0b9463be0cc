"""The dbt project as Dagster sees it, in a module of its own so that the CLI and the tests can
prepare the manifest before the definitions are imported (under `dagster dev`, importing this
module prepares it)."""

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO
from unittest import mock

from dagster import AssetExecutionContext, ConfigurableResource, Failure, Output, TableColumn, TableSchema
from dagster_dbt import DagsterDbtTranslator, DbtProject
from dagster_dbt.asset_utils import (
    DBT_EMPTY_INDIRECT_SELECTION,
    get_dbt_test_names_for_check_keys,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.dbt_project import using_dagster_dev
from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner, dbtRunnerResult
from dbt_common.events.functions import msg_to_dict

from orchestration import settings
from orchestration.lib.duck import EXTENSIONS, RUN_LOCK_WAIT, connect, spill_folder
from orchestration.lib.processes import run_to_its_end
from orchestration.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# dbt's artefacts (manifest, saved parse) go to DBT_TARGET_PATH, dbt's and dagster-dbt's own variable,
# or target/ (the tests give each parallel worker its own).
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR,
                         target_path=Path(os.environ.get("DBT_TARGET_PATH", "target")))
# dbt's saved parse, which each Dagster step's dbt starts from (`Dbt.build` copies it in).
PARTIAL_PARSE = DBT_PROJECT_DIR / dbt_project.target_path / "partial_parse.msgpack"
# A failed dbt step's target folder stays for its dbt.log, which its message names: this many of them.
FAILED_STEP_FOLDERS_KEPT = 10


def _newest_source_change() -> float:
    files = [p for folder in ("models", "seeds", "macros", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*")]
    files += [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    return max(p.stat().st_mtime for p in files if p.is_file())


def parse_is_current(target: Path) -> bool:
    """The manifest in the target folder `target` is newer than every file of the dbt project."""
    manifest = target / "manifest.json"
    return manifest.exists() and manifest.stat().st_mtime >= _newest_source_change()


def prepare_manifest() -> Path:
    """Run `dbt parse`, in this process, when the manifest is missing or older than the dbt project's files."""
    manifest = dbt_project.manifest_path
    if not parse_is_current(manifest.parent):  # from the warehouse's folder, as the steps will find it
        invoke_dbt_or_fail(["parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
                           "dbt parse failed")
    return manifest


# dbt's events that carry a node's outcome, which dagster-dbt turns into Dagster's events
RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}
# dbt's loggers, for the terminal and for dbt.log, both off: each formats every event, one per SQL
# statement included, before its level drops it (`log_lines` writes what they would show)
LOG_OFF = ("--log-level", "none", "--log-level-file", "none")
# the levels of the events dbt's terminal shows at its default log level
LOGGED_LEVELS = {"info", "warn", "error"}


def log_lines(log: TextIO) -> Callable:
    """A dbt callback writing the lines dbt's terminal shows, as it shows them (the time in UTC, then the
    message), to this process's output and to `log`, with dbt's own loggers off (`LOG_OFF`)."""
    def write(message) -> None:  # called from dbt's threads: one write per line
        if message.info.level in LOGGED_LEVELS:
            line = f"{time.strftime('%H:%M:%S', time.gmtime())}  {message.info.msg}\n"
            sys.stdout.write(line)
            log.write(line)
    return write


def error_lines(errors: list[str]) -> Callable:
    """A dbt callback appending each error line dbt logs to `errors`, nodes' results aside (with its
    loggers off, what would say why a build failed where no node's result does: an ephemeral model's
    error, a parse's)."""
    def keep(message) -> None:  # called from dbt's threads; list.append is atomic
        if message.info.level == "error" and message.info.name not in RESULT_EVENTS:
            errors.append(message.info.msg)
    return keep


def invoke_dbt(args: Sequence[str], env: Mapping[str, str] = {}, callbacks: Sequence = (),
               project_dir: Path = DBT_PROJECT_DIR, warehouse: Path | None = None,
               units: Path | None = None) -> dbtRunnerResult:
    """dbt in this process, as Dagster's steps and the tests run it: started in the folder of the
    warehouse (by default settings'; made if missing) (`_in_warehouse_folder`) with `env` set, both for
    the invocation only; the warehouse closed after. `units` is the list of units (by default settings').

    In this process rather than a child: a child paid Python's start and dbt's imports again for every
    build, and could outlive a killed parent while holding the warehouse's lock. An interrupt (a run
    terminated from the UI) waits for the build's end (`run_to_its_end`), as a dbt process would have
    been waited for."""
    folder, folder_env = _in_warehouse_folder(project_dir, warehouse, units)
    previous = os.getcwd()
    folder.mkdir(parents=True, exist_ok=True)
    warehouse_file = folder / folder_env["JINGTU_DBT_WAREHOUSE"]
    if any(spill_folder(warehouse_file).glob("*")):  # a killed process's spills, which dbt's settings would refuse
        connect(warehouse_file).close()
    with mock.patch.dict(os.environ, {**folder_env, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        os.chdir(folder)
        try:
            return run_to_its_end(lambda: dbtRunner(callbacks=list(callbacks)).invoke(list(args)),
                                  "interrupted: dbt finishes what it has begun first (seconds), then this stops")
        finally:
            os.chdir(previous)
            # dbt-duckdb keeps the database open for the next invocation in the process. Closed, as when
            # a dbt process exits: the file is free for other connections, and its WAL written into it.
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager.close_all_connections()


def invoke_dbt_or_fail(args: Sequence[str], what: str, warehouse: Path | None = None) -> dbtRunnerResult:
    """`invoke_dbt` with dbt's loggers off (`LOG_OFF`: nothing on the terminal, no dbt.log); when it fails,
    RuntimeError: `what` and why, dbt's error lines included."""
    errors = []
    outcome = invoke_dbt([*args, *LOG_OFF], callbacks=[error_lines(errors)], warehouse=warehouse)
    if not outcome.success:
        raise RuntimeError(f"{what}: " + "; ".join(failure_messages(outcome, errors)))
    return outcome


def failure_messages(outcome: dbtRunnerResult, errors: Sequence[str] = ()) -> list[str]:
    """Why a dbt invocation failed: its failing nodes' messages, each naming its node (a failing test's
    says only "Got 4 results, configured to fail if != 0"), else a catalog's errors (`docs generate`)
    and `errors`, dbt's error lines; and the exception it ended on, if any."""
    failed = [str(r.message) if r.node.name in str(r.message) else f"{r.node.name}: {r.message}"
              for r in getattr(outcome.result, "results", None) or [] if str(r.status) in ("error", "fail")]
    messages = failed or [*(getattr(outcome.result, "errors", None) or []), *errors]
    exception = str(outcome.exception) if outcome.exception else None  # often what an error line said
    return [*messages, *([exception] if exception and not any(exception in m for m in messages) else [])]


class Dbt(ConfigurableResource):
    """`dbt build` of a step's selection, in the step's process (`invoke_dbt`), its results turned into
    Dagster's events by dagster-dbt as its own resource does for a dbt process's log."""

    project_dir: str = str(DBT_PROJECT_DIR)

    def build(self, context: AssetExecutionContext, partition: Mapping[str, str], warehouse: Path,
              units: Path) -> Iterator:
        """`dbt build` of the step's selection in `warehouse` with the list of `units` (the run's, as its
        loads had them), the partition given in environment variables (`partition_env`, macros/partitions.sql)
        so that dbt can reuse its parse.

        The step's dbt has a target folder of its own, which starts from the saved parse. Once dbt
        succeeds, its parse is kept for the next step and the folder removed; a failed step's
        stays, with its dbt.log (the newest `FAILED_STEP_FOLDERS_KEPT` of them)."""
        params = get_updated_cli_invocation_params_for_context(context, {}, DagsterDbtTranslator())
        selection = with_tests_named(context, params)
        project_dir = params.dbt_project.project_dir if params.dbt_project else self.project_dir
        target = from_saved_parse(step_target_folder(context.run.run_id, uuid.uuid4().hex[:7]))
        results, errors = [], []

        def keep_result(message) -> None:  # called from dbt's threads; list.append is atomic
            if message.info.name in RESULT_EVENTS:
                results.append(msg_to_dict(message))

        indirect = {"DBT_INDIRECT_SELECTION": params.indirect_selection} if params.indirect_selection else {}
        # --no-write-json: no manifest.json and run_results.json, which nothing reads, and which dbt writes
        # out whole, the manifest twice. No colours: its lines are kept as text (shown by `jingtu` when the
        # build fails). dbt's own loggers off (LOG_OFF), its lines written by `log_lines`.
        # dbt-duckdb fails at once on a file another process holds: waited for here, as the other steps do,
        # and held until dbt is done (dbt's connections share this one's database in this process)
        with (connect(warehouse, wait=RUN_LOCK_WAIT),
              (target / "dbt.log").open("a", encoding="utf-8", buffering=1) as log):  # a line at a time
            outcome = invoke_dbt(["build", "--no-write-json", "--no-use-colors", *LOG_OFF, "--target-path", str(target),
                                  "--log-path", str(target), "--project-dir", str(project_dir), "--profiles-dir",
                                  str(DBT_PROJECT_DIR), *selection],
                                 {**partition, **indirect}, [keep_result, error_lines(errors), log_lines(log)],
                                 Path(self.project_dir), warehouse, units)
        if not outcome.success:
            prune_failed_step_folders()
            raise Failure(description="\n".join(["dbt build failed (its log: " + str(target / "dbt.log") + ")",
                                                   *failure_messages(outcome, errors)]))
        events = [event for raw in results for event in DbtCoreCliEventMessage(raw, {}).to_default_asset_events(
            manifest=params.manifest, dagster_dbt_translator=params.dagster_dbt_translator, context=context,
            target_path=target, project=params.dbt_project)]
        yield from with_table_metadata(events, params.manifest)
        parse = target / PARTIAL_PARSE.name
        if parse.exists():  # a cache, replaced atomically: dbt checks it and re-parses on a mismatch
            os.replace(parse, PARTIAL_PARSE)
        shutil.rmtree(target)


def from_saved_parse(target: Path) -> Path:
    """`target`, a new dbt target folder, made with a copy of the saved parse (if any), from which dbt
    parses only what changed since (a full parse takes seconds)."""
    target.mkdir(parents=True)
    if PARTIAL_PARSE.exists():
        shutil.copyfile(PARTIAL_PARSE, target / PARTIAL_PARSE.name)
    return target


def prune_failed_step_folders() -> None:
    """The target folders of failed steps but the newest `FAILED_STEP_FOLDERS_KEPT` removed: each holds
    a copy of the saved parse, and they would pile up for ever."""
    pattern = step_target_folder("*", "*")
    failed = sorted((path for path in pattern.parent.glob(pattern.name) if path.is_dir()),
                    key=lambda path: path.stat().st_mtime)
    for path in failed[:-FAILED_STEP_FOLDERS_KEPT]:
        shutil.rmtree(path, ignore_errors=True)


def step_target_folder(run_id: str, step_id: str) -> Path:
    """Where a `Dbt.build` step of the run keeps dbt's artefacts (`step_id` "*": a pattern for every step's)."""
    return DBT_PROJECT_DIR / dbt_project.target_path / f"{run_id[:8]}-{step_id}"


def with_tests_named(context: AssetExecutionContext, params) -> list[str]:
    """The step's dbt selection, with the tests of its checks named when it builds some models only.
    dagster-dbt then selects the models and leaves their tests to dbt's indirect selection, which
    (`buildable`, dbt_project.yml) drops a test that also reads a model the step does not build (a
    mart's county codes checked against dim_county): its check would silently not run, and not gate
    what follows. Named, a test runs, on that other model as it stands."""
    selection = list(params.selection_args)
    assets = context.assets_def  # in a subset, the subset's; node_keys_by_output_name has every model
    if assets.keys_by_output_name == assets.node_keys_by_output_name or "--select" not in selection \
            or params.indirect_selection == DBT_EMPTY_INDIRECT_SELECTION:  # every model, or every test named
        return selection
    tests = get_dbt_test_names_for_check_keys(params.dagster_dbt_translator, params.manifest, assets,
                                              context.selected_asset_check_keys)
    at = selection.index("--select") + 1
    selection[at] = " ".join([selection[at], *tests])
    return selection


def _in_warehouse_folder(project_dir: Path, warehouse: Path | None = None,
                         units: Path | None = None) -> tuple[Path, dict[str, str]]:
    """Where dbt starts, the folder of the warehouse (by default settings'), and the environment giving
    it the warehouse by its file name there, so that its profile, and with it the saved parse, is the
    same for every warehouse of that name: dbt parses the whole project again when the profile's path
    changes. The units file (by default settings', else the project's seed) is then given in full: named
    relative to the folder `jingtu` started in, as the loader reads it, not to where dbt starts."""
    warehouse = (warehouse or settings.warehouse_path()).absolute()
    if units is None:
        units = settings.units_file() if os.environ.get("JINGTU_UNITS") else project_dir / "seeds" / "units.csv"
    units = units.absolute()
    # dbt reads its target folder (and its log folder, by default) from where it starts
    target = project_dir / os.environ.get("DBT_TARGET_PATH", "target")
    return warehouse.parent, {"JINGTU_DBT_WAREHOUSE": warehouse.name, "JINGTU_UNITS": str(units),
                              "DBT_TARGET_PATH": str(target), "JINGTU_DUCKDB_EXTENSIONS": str(EXTENSIONS)}


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
    with connect(settings.warehouse_path(), read_only=False, wait=RUN_LOCK_WAIT) as con:
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
                  years: Sequence[int] | None = None) -> dict[str, str]:
    """The environment selecting a dbt build's partition: one year, years (a range '2015..2018' when
    they follow one another, else '2015,2018'), a range of months ('2018-01', '2018-06'), or (empty
    values) everything."""
    selected = "" if year is None else str(int(year))
    if years:
        years = sorted({int(y) for y in years})
        selected = (str(years[0]) if len(years) == 1 else f"{years[0]}..{years[-1]}"
                    if settings.consecutive(years) else ",".join(map(str, years)))
    return {"JINGTU_DBT_YEAR": selected, "JINGTU_DBT_MONTHS": "" if months is None else "..".join(months)}


if using_dagster_dev():  # what dbt_project.prepare_if_dev() does, but it looks for `dbt` on PATH
    prepare_manifest()
