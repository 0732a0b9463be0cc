"""Shared fixtures: small generated data, and a warehouse under tmp_path for each test."""

import csv
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from filelock import FileLock

# Under pytest-xdist (`make test` runs two workers) each worker keeps its own dbt artefacts: the
# workers' dbt runs would otherwise overwrite one another's saved parse and manifest.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("DBT_TARGET_PATH", str(Path(__file__).resolve().parent.parent / "dbt_project" / "target"
                                                 / worker))

from orchestration import QUIETED_WARNINGS
from orchestration.contracts import SOURCES
from orchestration.ingest import LoadReport, ingest
from orchestration.lib.duck import connect
from orchestration.sample import generate
from orchestration.settings import PROJECT_ROOT, UNITS_SEED


def pytest_configure(config):
    """The dbt manifest must exist before the Dagster definitions are imported. pytest-xdist's
    controller runs no test: it neither parses nor imports dbt (seconds of imports, here and in the
    helpers below, that only the workers need). Its workers parse once: the first, under a lock, and
    the others copy that parse into their own folders (a parse does not depend on its folder).

    The library notices the project quiets (`QUIETED_WARNINGS`) are quieted in the tests too: pytest
    restores the warning filters after importing the package, which set them."""
    for message in QUIETED_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")
    # GX imports modules Python 3.11 deprecated: a notice for GX's authors, which Python shows only in tests
    config.addinivalue_line("filterwarnings", "ignore:module 'sre_:DeprecationWarning")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no":
        return
    with warnings.catch_warnings():  # sqlglot's notice on its own tokenizer, which would print raw this early
        warnings.filterwarnings("ignore", "sqlglotrs is deprecated", DeprecationWarning)
        from orchestration.dbt import PARTIAL_PARSE, parse_is_current, prepare_manifest

    own = PARTIAL_PARSE.parent
    if worker:
        with FileLock(own.parent / "parse.lock"):
            current = [folder for folder in own.parent.iterdir() if folder.is_dir() and parse_is_current(folder)]
            if current and not parse_is_current(own):
                own.mkdir(parents=True, exist_ok=True)
                for name in ("manifest.json", PARTIAL_PARSE.name):
                    shutil.copy2(current[0] / name, own / name)  # its time too, which says it is current
            prepare_manifest()
    else:
        prepare_manifest()


UNITS_CSV = UNITS_SEED
SALT = "test-salt"


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that `build(folder)` fills, built by one pytest-xdist worker for all of them (under a
    lock, into a name of its own first, so that no worker sees it half built); each worker gets its own
    copy, which a test may open for writing (DuckDB allows one writing process per file)."""
    own = tmp_path_factory.getbasetemp() / name
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        build(own)
        return own
    shared = tmp_path_factory.getbasetemp().parent / name  # the run's folder, above every worker's
    with FileLock(f"{shared}.lock"):
        if not shared.exists():
            partial = shared.with_name(f"{name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(shared)
    shutil.copytree(shared, own)
    return own


@pytest.fixture(scope="session")
def small_raw_template(tmp_path_factory) -> Path:
    """The sample with 1 % of the hotline tickets: every source, year, encoding and format."""
    return built_once(tmp_path_factory, "small raw's 样本",
                      lambda out: generate(out, hotline_scale=0.01, progress=lambda _: None))


@pytest.fixture
def raw(small_raw_template, tmp_path) -> Path:
    """A private copy of the small sample that a test may change."""
    copy = tmp_path / "raw"
    shutil.copytree(small_raw_template, copy)
    return copy


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> Path:
    # a folder named as people name them, spaces, quotes and Chinese included: every path the product
    # puts into SQL (the warehouse's, the serving file's, the spills') is quoted
    path = tmp_path / "仓库 Leshan's" / "jingtu.duckdb"
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(path))
    monkeypatch.setenv("JINGTU_PII_SALT", SALT)
    return path


@pytest.fixture
def load(raw, warehouse):
    """load(source, year) → LoadReport, ingesting from the test's raw copy into its warehouse."""
    def _load(source: str, year: int, root: Path = raw) -> LoadReport:
        with connect(warehouse) as con:
            return ingest(con, SOURCES[source], year, root, UNITS_CSV, SALT)
    return _load


def after_success(sensor, asset_selection, tags=None, run_id: str | None = None):
    """A run-status sensor's answer to a successful run of the yearly job for 2018 (or `tags`' years)
    with that selection (and `run_id`, by default a new one)."""
    from dagster import (
        DagsterEvent,
        DagsterEventType,
        DagsterInstance,
        DagsterRun,
        build_run_status_sensor_context,
    )
    from dagster._core.utils import make_new_run_id

    run = DagsterRun(job_name="yearly_evaluation", run_id=run_id or make_new_run_id(),
                     tags=tags or {"dagster/partition": "2018"}, asset_selection=asset_selection)
    event = DagsterEvent(event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name)
    with DagsterInstance.ephemeral() as instance:
        return sensor(build_run_status_sensor_context(sensor.name, event, instance, run))


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def decode(data: bytes) -> str:
    """A raw file's text: UTF-8 (with or without its BOM), else GB18030, as the source systems export."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def raw_callers(raw: Path) -> tuple[set[str], set[str]]:
    """The caller phones and names of the hotline files under `raw`, as they stand there."""
    phones, names = set(), set()
    for path in (raw / "hotline").glob("*/*.csv"):
        for row in csv.DictReader(io.StringIO(decode(path.read_bytes()))):
            phones.add(row["来电号码"])
            names.add(row["来电人"])
    return phones - {""}, names - {""}


def personal_data_in(data: bytes, phones: set[str], texts: tuple[str, ...]) -> set[str]:
    """Which of `phones` (11 digits, found in any longer run of digits too) and `texts` (in UTF-8 or
    GB18030) `data` holds. A text must be 8 bytes or more in both: encrypted or compressed bytes hold
    a given 4-byte string about once in 4 GiB, so a two-character name (4 bytes in GB18030) was
    "found" in DuckDB's encrypted spill files by chance."""
    assert all(min(len(text.encode()), len(text.encode("gb18030"))) >= 8 for text in texts), texts
    held = {run[i:i + 11].decode() for run in re.findall(rb"\d{11,}", data) for i in range(len(run) - 10)} & phones
    return held | {text for text in texts if text.encode() in data or text.encode("gb18030") in data}


def personal_data_written(folder: Path, phones: set[str], texts: tuple[str, ...], besides: Path) -> dict[Path, set[str]]:
    """Each file under `folder` but not under `besides` (the raw input), by its path in `folder`: which
    of `phones` and `texts` it holds (`personal_data_in`)."""
    return {path.relative_to(folder): personal_data_in(path.read_bytes(), phones, texts)
            for path in folder.rglob("*") if path.is_file() and besides not in path.parents}


def hold_in_another_process(database: Path, seconds: float) -> subprocess.Popen:
    """A process holding `database` open for `seconds` (a Dagster run launched from the UI, a person's
    DuckDB shell), returned once it holds it; it prints nothing more."""
    hold = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(float(sys.argv[2]))")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(database), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "held\n"
    holder.stdout.close()
    return holder


def write_source(path: Path, source: str, rows: list[dict], encoding: str = "utf-8-sig", headers=None) -> Path:
    """Write rows (canonical names) as the source system exports them: Chinese headers, CSV."""
    contract = SOURCES[source]
    headers = headers or [c.header for c in contract.columns]
    by_header = {c.header: c.name for c in contract.columns}
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[row.get(by_header.get(h, h), "") for h in headers] for row in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def run_dbt(warehouse: Path, *args, project_dir=None, check=True, year=None, months=None) -> tuple[bool, str]:
    """Invoke dbt as Dagster's steps do (`invoke_dbt`: in this process, from the warehouse's folder),
    for one year, a range of months, or everything; (success, the failures' messages). The dbt
    project is this one unless `project_dir` is given."""
    from orchestration.dbt import (
        DBT_PROJECT_DIR,
        LOG_OFF,
        error_lines,
        failure_messages,
        from_saved_parse,
        invoke_dbt,
        partition_env,
    )

    project_dir = project_dir or DBT_PROJECT_DIR
    # No manifest.json and run_results.json, as Dagster's steps (`Dbt.build`): no test reads them, and
    # dbt writes them out whole. `docs generate` and `parse` are run for what they write.
    artefacts = [] if args[0] in ("docs", "parse") else ["--no-write-json"]
    # No log (`LOG_OFF`), which no test reads; dbt's error lines are kept for the failures' messages.
    errors = []
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JINGTU_WAREHOUSE", str(warehouse))
        if Path(project_dir) != DBT_PROJECT_DIR:
            # A copy's dbt keeps its parse in the copy's target/, starting from the project's: in the
            # worker's target, it would point the project's next dbt at the copy's files, since removed.
            env.setenv("DBT_TARGET_PATH", "target")
            if not (Path(project_dir) / "target").exists():
                from_saved_parse(Path(project_dir) / "target")
        result = invoke_dbt([*args, *artefacts, *LOG_OFF, "--project-dir", str(project_dir),
                             "--profiles-dir", str(project_dir)], partition_env(year=year, months=months),
                            [error_lines(errors)],
                            project_dir=Path(project_dir))
    messages = "\n".join(failure_messages(result, errors))
    if check:
        assert result.success, messages
    return result.success, messages


def load_every_source(warehouse: Path, raw: Path, years) -> list[LoadReport]:
    """Every source's files of `years` under `raw` loaded into `warehouse`; the loads' reports."""
    with connect(warehouse) as con:
        return [ingest(con, source, year, raw, UNITS_CSV, SALT) for source in SOURCES.values() for year in years]


def _load_every_year(template: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    load_every_source(folder / "jingtu.duckdb", template, (2015, 2016, 2017, 2018))


def _build_every_year(raw_folder: Path, folder: Path) -> None:
    shutil.copytree(raw_folder, folder)
    run_dbt(folder / "jingtu.duckdb", "build")


@pytest.fixture(scope="session")
def raw_warehouse(small_raw_template, tmp_path_factory) -> Path:
    """A warehouse file with the small sample's raw layer loaded for every year (no marts)."""
    return built_once(tmp_path_factory, "raw_warehouse", functools.partial(_load_every_year, small_raw_template)
                      ) / "jingtu.duckdb"


@pytest.fixture(scope="session")
def built_warehouse(raw_warehouse, tmp_path_factory) -> Path:
    """The small sample after a full `dbt build` (every year at once, with the tests). Tests that
    change it work on a copy."""
    return built_once(tmp_path_factory, "built", functools.partial(_build_every_year, raw_warehouse.parent)
                      ) / "jingtu.duckdb"


# The longest files first, longest to shortest (as the last clean run measured them): the two workers
# then end close together, not one finishing alone while the other idles. `make test` gives whole files
# to its workers in this order (`--no-loadscope-reorder`: pytest-xdist would otherwise send the files
# with the most tests first, whatever they cost).
SLOW_FIRST = ("test_pipeline.py", "test_dbt.py", "test_serving.py", "test_backfill.py", "test_quality.py",
              "test_automation.py", "test_versions.py", "test_reliability.py", "test_ingest.py", "test_reproduction.py",
              "test_definitions.py", "test_restatements.py", "test_generator.py", "test_grade_confidence.py",
              "test_early_warnings.py", "test_docs_site.py", "test_portrait.py", "test_statistical_warnings.py",
              "test_dagster_storage.py", "test_docs.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)
    items.sort(key=rank)  # stable: the order inside a file is kept


def project_dagster_home(folder: Path) -> Path:
    """`folder`, made a Dagster instance configured as the project's (dagster.yaml: storage, pool, queue)."""
    folder.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", folder / "dagster.yaml")
    return folder


def stop_session(leader: subprocess.Popen, grace: float) -> None:
    """SIGTERM to a process started in a session of its own, and to everything in it, as a service
    manager would; SIGKILL after `grace` seconds. Dagster's processes usually exit within a second,
    but now and then one has not after a minute when its work was done (a Dagster shutdown race)."""
    try:
        os.killpg(leader.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole session has ended already: the caller's checks say why
        leader.wait()
        return
    try:
        leader.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
