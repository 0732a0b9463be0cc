"""The read-only serving file for BI tools: atomic publication, and real clients reading it while
another process materialises."""

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlalchemy
from dagster import DagsterEventType, DagsterInstance

from orchestration import cli
from orchestration.contracts import SOURCES
from orchestration.lib.duck import connect
from orchestration.serving import publish
from tests.conftest import SALT, load_every_source, project_dagster_home, run_dbt

JINGTU = str(Path(sys.executable).parent / "jingtu")
DUCKDB_CLI = str(Path(sys.executable).parent / "duckdb")



def test_a_run_on_a_warehouse_its_resource_names_writes_what_it_publishes_beside_it(built_warehouse, tmp_path,
                                                                                  monkeypatch):
    """A run whose warehouse resource names another database (the launchpad's config) published its
    marts over the serving file of the environment's warehouse, and wrote its portraits and quality
    report beside that one."""
    from dagster import materialize

    from orchestration.defs.reports import county_portraits
    from orchestration.defs.serving import bi_database
    from orchestration.quality.validate import validate
    from orchestration.resources import Warehouse
    from tests.conftest import UNITS_CSV

    other = tmp_path / "other" / "w.duckdb"
    other.parent.mkdir()
    shutil.copyfile(built_warehouse, other)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(tmp_path / "env" / "jingtu.duckdb"))
    for name in ("JINGTU_SERVING", "JINGTU_REPORTS", "JINGTU_QUALITY"):
        monkeypatch.delenv(name, raising=False)
    result = materialize([bi_database, county_portraits], partition_key="2018",
                         resources={"warehouse": Warehouse(database=str(other))})
    assert result.success
    units = [line.split(",")[0] for line in UNITS_CSV.read_text(encoding="utf-8").splitlines()[1:]]
    validate(other, ["raw_development"], [2018], units, "beside")
    with connect(tmp_path / "other" / "serving.duckdb", read_only=True) as served:
        assert served.execute("select count(*) from marts.fct_county_evaluation").fetchone()[0] > 0
    assert (tmp_path / "other" / "reports" / "index.html").exists()
    assert (tmp_path / "other" / "quality" / "index.html").exists()
    assert not (tmp_path / "env").exists()

def test_publication_copies_every_mart_and_swaps_atomically(built_warehouse, tmp_path):
    warehouse, serving = tmp_path / built_warehouse.name, tmp_path / "serving.duckdb"
    shutil.copyfile(built_warehouse, warehouse)
    counts = publish(warehouse, serving)
    assert "marts.fct_county_evaluation" in counts and len(counts) >= 10
    reader = connect(serving, read_only=True)  # a BI session opened before the next publication
    before = reader.execute("select count(*) from marts.fct_early_warnings").fetchone()
    with connect(warehouse) as con:
        con.execute("delete from marts.fct_early_warnings where month < '2018-01-01'")
    publish(warehouse, serving)
    assert reader.execute("select count(*) from marts.fct_early_warnings").fetchone() == before
    reader.close()
    with connect(serving, read_only=True) as fresh:
        after = fresh.execute("select count(*) from marts.fct_early_warnings").fetchone()
        assert after < before
        assert fresh.execute("select count(*) from marts.fct_county_evaluation").fetchone() == (44,)
    assert not list(tmp_path.glob(".serving*")) and not (tmp_path / "serving.duckdb.wal").exists()


def test_a_missing_or_empty_warehouse_is_not_published_over_what_bi_tools_read(tmp_path, monkeypatch, capsys):
    """A mistyped JINGTU_WAREHOUSE had published an empty serving file (and created the warehouse)."""
    serving = tmp_path / "serving.duckdb"
    serving.write_bytes(b"the last publication")
    monkeypatch.setenv("JINGTU_SERVING", str(serving))
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(tmp_path / "mistyped" / "jingtu.duckdb"))
    assert cli.main(["publish"]) == cli.ERROR
    assert "cannot publish: " in capsys.readouterr().err and not (tmp_path / "mistyped").exists()
    empty = tmp_path / "empty" / "jingtu.duckdb"
    connect(empty).close()
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(empty))
    assert cli.main(["publish"]) == cli.ERROR
    assert f"cannot publish: {empty} holds no marts" in capsys.readouterr().err
    assert serving.read_bytes() == b"the last publication" and sorted(p.name for p in tmp_path.iterdir()) == [
        "empty", "serving.duckdb"]
    assert cli.main(["report"]) == 2 and "holds no evaluation yet" in capsys.readouterr().err


def test_a_bi_user_sees_documented_columns_county_names_and_plain_types(built_warehouse, tmp_path):
    warehouse, serving = tmp_path / built_warehouse.name, tmp_path / "serving.duckdb"
    shutil.copyfile(built_warehouse, warehouse)
    publish(warehouse, serving)
    with connect(serving, read_only=True) as con:
        tables = con.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
        columns = con.execute("select table_name, column_name, data_type, comment from duckdb_columns()"
                              " where schema_name = 'marts'").fetchall()
        names = dict(con.execute("select distinct county_code, county_name from marts.fct_county_evaluation").fetchall())
    assert len(tables) >= 15 and [t for t, comment in tables if not comment] == []
    assert [(t, c) for t, c, _, comment in columns if not comment] == []
    assert "0–100" in next(comment for t, c, _, comment in columns if (t, c) == ("fct_county_evaluation", "development"))
    assert {t: d for t, c, d, _ in columns if c == "year" and d != "INTEGER"} == {}
    assert [(t, c) for t, c, d, _ in columns if d == "HUGEINT"] == []
    assert names["511102"] == "市中区" and len(names) == 11


BI_USER = 65534  # nobody: the account of a BI client, or of a pipeline that is not root


def as_bi_user(sql: str, database: Path, read_only: bool) -> str:
    """Run `sql` on `database` in a child process under the BI account: its result or its error.
    Forked, not exec'd: the BI account may not reach this Python's files."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the BI account, answer through the pipe, never return
        try:
            os.setgid(BI_USER)
            os.setuid(BI_USER)
            answer = str(duckdb.connect(str(database), read_only=read_only).execute(sql).fetchall())
        except BaseException as error:  # noqa: BLE001 - the error is the answer
            answer = f"error: {error}"
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    return text


def test_a_bi_client_cannot_change_a_published_grade(built_warehouse, tmp_path):
    warehouse = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, warehouse)
    shared = Path(tempfile.mkdtemp(prefix="jingtu-serving-"))  # tmp_path's parents are root's alone
    try:
        shared.chmod(0o755)
        publish(warehouse, shared / "serving.duckdb")
        assert (shared / "serving.duckdb").stat().st_mode & 0o777 == 0o444
        serving = shared / "serving.duckdb"
        os.chown(serving, BI_USER, BI_USER)  # even the account that published it cannot write to it
        write = as_bi_user("update main.published_at set tables = -1 returning 1", serving, read_only=False)
        assert write.startswith("error:") and "Permission denied" in write, write
        read = as_bi_user("select tables >= 0 from main.published_at", serving, read_only=True)
        assert read == "[(True,)]", read
    finally:
        shutil.rmtree(shared)


def test_a_killed_publication_leaves_nothing_behind_after_the_next(built_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse" / built_warehouse.name
    warehouse.parent.mkdir()
    shutil.copyfile(built_warehouse, warehouse)
    serving = tmp_path / "serving.duckdb"
    for leftover in (".serving.duckdb.4242.tmp", ".serving.duckdb.4242.tmp.wal"):
        (tmp_path / leftover).write_bytes(b"half a publication")
    publish(warehouse, serving)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving.duckdb", "warehouse"]


def read_with_cli(serving: Path) -> str:
    result = subprocess.run([DUCKDB_CLI, "-readonly", "-csv", "-noheader", str(serving), "-c",
                             "select count(*), sum(composite)::decimal(12, 6) from marts.fct_county_evaluation"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def read_with_sqlalchemy(engine) -> str:
    with engine.connect() as connection:
        count, total = connection.execute(sqlalchemy.text(
            "select count(*), sum(composite)::decimal(12, 6) from marts.fct_county_evaluation")).one()
    return f"{count},{total}"


def consistent_state(warehouse: Path, serving: Path) -> dict[str, int]:
    """Open both files after a crash: every raw partition matches its load record, marts hold whole
    years, the serving file holds a whole publication."""
    with connect(warehouse) as con:
        for source in SOURCES:
            loads = con.execute(f"""
                select l.partition_year, sum(l.rows_loaded), any_value(t.n)
                from raw.load_files l
                left join (select partition_year, count(*) as n from raw.{source} group by 1) t using (partition_year)
                where l.source = '{source}' group by 1""").fetchall()
            for year, loaded, present in loads:
                assert (present or 0) == loaded, (source, year)
        years = dict(con.execute("select year, count(*) from marts.fct_county_evaluation group by 1").fetchall())
        assert set(years.values()) <= {11}
    with connect(serving, read_only=True) as con:
        (published,) = con.execute("select count(*) from marts.fct_county_evaluation").fetchone()
    assert published % 11 == 0
    return {"published": published, **{str(y): n for y, n in years.items()}}


def reads_until(run: subprocess.Popen, reached, serving: Path, engine) -> list[str]:
    """Read the serving file with both clients, one after the other, every half second, until `run` ends
    or `reached()` is true (asked every 0.1 s): what each read saw, in order (no read may fail on a
    lock). A publication may land between the two clients' reads: the callers check the order."""
    seen, deadline, next_read = [], time.monotonic() + 600, 0.0
    while run.poll() is None and not reached() and time.monotonic() < deadline:
        if time.monotonic() >= next_read:
            seen += [read_with_cli(serving), read_with_sqlalchemy(engine)]
            next_read = time.monotonic() + 0.5
        time.sleep(0.1)
    return seen


def logged(instance: DagsterInstance, earlier_runs: set[str], event_type: DagsterEventType, step: str) -> bool:
    """Whether the run started after `earlier_runs` has logged an event of `event_type` in `step`."""
    runs = [run.run_id for run in instance.get_runs() if run.run_id not in earlier_runs]
    return bool(runs) and any(record.event_log_entry.step_key == step for record in instance.get_records_for_run(
        runs[0], of_type=event_type, limit=1000).records)


def test_runs_killed_mid_write_or_completing_leave_both_files_consistent_while_bi_clients_read(raw, tmp_path,
                                                                                               monkeypatch):
    """Two runs killed mid-write (in the ingestion, then in dbt), then one that completes, while the DuckDB
    CLI and SQLAlchemy read the serving file: no read fails, every read sees a whole publication (the
    one before the runs, then the completed run's), and after each kill both files are consistent and
    free to write at once (no dbt left holding the warehouse)."""
    warehouse, serving = tmp_path / "w" / "jingtu.duckdb", tmp_path / "w" / "serving.duckdb"
    env = {**os.environ, "JINGTU_RAW": str(raw), "JINGTU_WAREHOUSE": str(warehouse),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "JINGTU_PII_SALT": SALT}
    # 2018 evaluated and published, in this process
    load_every_source(warehouse, raw, [2018])
    run_dbt(warehouse, "build", year=2018)
    publish(warehouse, serving)
    assert consistent_state(warehouse, serving)["published"] == 11
    home = project_dagster_home(Path(env["DAGSTER_HOME"]))  # its event log shows where a run is
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = DagsterInstance.get()
    # a connection per query, as a BI tool's refresh: a held one would keep reading the file it opened
    engine = sqlalchemy.create_engine(f"duckdb:///{serving}", connect_args={"read_only": True},
                                      poolclass=sqlalchemy.pool.NullPool)
    before = read_with_sqlalchemy(engine)
    assert read_with_cli(serving) == before
    # killed once the ingestion has begun, before its last source is loaded; then in dbt's build, which
    # writes the marts for seconds after its step has started
    for (event_type, step), last_step in (((DagsterEventType.STEP_START, "raw__cases"), "raw__surveys"),
                                          ((DagsterEventType.STEP_START, "jingtu_dbt_models"), "jingtu_dbt_models")):
        earlier_runs = {run.run_id for run in instance.get_runs()}
        run = subprocess.Popen([JINGTU, "materialize", "2017"], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reached = functools.partial(logged, instance, earlier_runs, event_type, step)
        assert set(reads_until(run, reached, serving, engine)) <= {before}
        time.sleep(2 if step == "jingtu_dbt_models" else 0)  # past dbt's start-up, into its models
        assert run.poll() is None, f"the run ended (exit {run.returncode}) before it could be killed"
        os.kill(run.pid, signal.SIGKILL)  # the CLI alone, mid-write: nothing it started may outlive it
        run.wait()
        assert not logged(instance, earlier_runs, DagsterEventType.STEP_SUCCESS, last_step), \
            f"killed too late: {last_step} had finished"
        consistent_state(warehouse, serving)
    instance.dispose()
    temp = tmp_path / "temp"  # the completed run's temporary files: none left (it ends by exit_now)
    temp.mkdir()
    writer = subprocess.Popen([JINGTU, "materialize", "2017"], env={**env, "TMPDIR": str(temp)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = reads_until(writer, lambda: False, serving, engine)
    assert writer.wait() == 0, writer.stderr.read()
    assert list(temp.rglob("*")) == []
    after = read_with_cli(serving)
    assert after != before and read_with_sqlalchemy(engine) == after
    assert len(seen) >= 10 and seen == sorted(seen, key=lambda answer: answer == after)  # before, then after
    assert set(seen) <= {before, after}
    engine.dispose()
    assert consistent_state(warehouse, serving) == {"published": 22, "2017": 11, "2018": 11}
