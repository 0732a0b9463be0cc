"""The Great Expectations gates: suites in step with the contracts, one planted defect per
expectation caught by it, every row checked at scale, and a failing check blocking the year."""

import dataclasses
import io
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from orchestration import cli
from orchestration.contracts import SOURCES
from orchestration.ingest import configured_units
from orchestration.lib.duck import connect
from orchestration.quality import report
from orchestration.quality import validate as validate_module
from orchestration.quality.suites import all_suites, read_suite, write_suites
from orchestration.quality.validate import validate
from tests.conftest import UNITS_CSV, query

YEAR = 2018  # the one year with hotline tickets in the sample
with connect() as _con:
    UNITS = configured_units(_con, UNITS_CSV)

# How to break the rule of each unexpected-rows expectation (and of the computed reject rate).
# {t} is the suite's table, {row} picks one row of the validated year.
PLANTS = {
    ("raw_hotline", "来电号码"): "update {t} set caller_key = '13912345678' where {row}",
    ("raw_hotline", "诉求内容"): "update {t} set content = '请回电 13912345678' where {row}",
    ("raw_hotline", "every row belongs"): "update {t} set received_at = received_at - interval 400 day where {row}",
    ("raw_hotline", "no row where"): "update {t} set closed_at = received_at - interval 1 hour where {row}",
    ("raw_cases", "every row belongs"):
        "update {t} set filed_on = coalesce(filed_on, handled_on) - interval 400 day where {row}",
    ("raw_cases", "no row where 立案时间"):
        "update {t} set filed_on = null, handled_on = null, form = null, outcome = null where {row}",
    ("raw_cases", "no row where 处置形态"):
        "update {t} set outcome = case when outcome is null then '批评教育' end where {row}",
    ("raw_inspections", "every row belongs"):
        "update {t} set started_on = started_on - interval 400 day, ended_on = ended_on - interval 400 day"
        " where {row}",
    ("raw_inspections", "no row where 结束日期"): "update {t} set ended_on = started_on - interval 1 day where {row}",
    ("raw_inspections", "no row where 已整改数"):
        "update {t} set problems_rectified = problems_found + 1 where {row}",
    ("raw_surveys", "every row belongs"): "update {t} set survey_year = survey_year - 1 where {row}",
    ("raw_development", "every row belongs"): "update {t} set year = year - 1 where {row}",
    ("files", "no file has more than"): "update {t} set rows_rejected = rows_read, rows_loaded = 0 where {row}",
    ("files", "every row read"):
        "delete from raw.{source} where rowid = (select min(rowid) from raw.{source} where partition_year = {year})",
}


def plant(con, suite, expectation: dict) -> None:
    """Break `expectation` on one row of the suite's batch."""
    table = re.search(r" from (\S+)", suite.batch).group(1)
    condition = suite.batch.split(" where ", 1)[1].format(years=YEAR) if " where " in suite.batch else "true"
    row = f"rowid = (select min(rowid) from {table} where {condition})"
    rule, kwargs = expectation["meta"]["rule"], expectation["kwargs"]
    custom = [sql for (name, start), sql in PLANTS.items()
              if (name == suite.name or (name == "files" and suite.name.endswith("_files"))) and rule.startswith(start)]
    if custom:
        source = suite.name.removeprefix("raw_").removesuffix("_files")
        con.execute(custom[0].format(t=table, row=row, source=source, year=YEAR))
        return
    column, kind = kwargs.get("column"), expectation["type"]
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique") \
            or rule.endswith("is unique in the year"):
        con.execute(f"insert into {table} select * from {table} where {row}")
    elif kind == "expect_column_values_to_not_be_null":
        con.execute(f"update {table} set {column} = null where {row}")
    elif kind == "expect_column_values_to_be_in_set":
        (sql_type,) = con.execute(f"select typeof({column}) from {table} limit 1").fetchone()
        con.execute(f"update {table} set {column} = {99 if sql_type == 'INTEGER' else repr('999999')} where {row}")
    elif kind == "expect_column_values_to_be_between":
        value = kwargs["max_value"] + 1 if "max_value" in kwargs else kwargs["min_value"] - (
            0 if kwargs.get("strict_min") else 1)
        con.execute(f"update {table} set {column} = {value} where {row}")
    elif rule.endswith("holds no ID card, bank card or mobile number"):  # a mobile typed into the code
        column = re.search(r"\((\w+)\) holds no", rule).group(1)
        con.execute(f"update {table} set {column} = '13912345678' where {row}")
    elif rule.endswith("is not after the time it was loaded"):  # as if loaded long before the event
        con.execute(f"update {table} set loaded_at = timestamp '2000-01-01' where {row}")
    elif kind == "expect_table_columns_to_match_set":
        con.execute(f"alter table {table} add column caller_name varchar")
    elif kind == "expect_column_sum_to_be_between":
        con.execute(f"update {table} set {column} = {column} + 0.1 where {row}")
    else:
        raise AssertionError(f"no way to plant a defect for {suite.name}: {rule}")


def _copy(warehouse, tmp_path, monkeypatch):
    path = tmp_path / "jingtu.duckdb"
    shutil.copyfile(warehouse, path)
    monkeypatch.setenv("JINGTU_QUALITY", str(tmp_path / "quality"))
    return path


def test_the_suites_in_expectations_are_those_the_contracts_write(tmp_path):
    written = write_suites(tmp_path)
    assert {p.name for p in written} == {f"{s.name}.json" for s in all_suites()}
    for path in written:
        committed = read_suite(path.stem)
        assert read_suite(path.stem, tmp_path) == committed, f"expectations/{path.name} is stale: run `jingtu suites`"


def test_clean_data_meets_every_suite_and_the_report_says_so(built_warehouse, tmp_path, monkeypatch):
    path = _copy(built_warehouse, tmp_path, monkeypatch)
    results = validate(path, [s.name for s in all_suites()], [YEAR], UNITS, "clean")
    assert [(r.suite, r.failures) for r in results if not r.success] == []
    rows = {r.suite: r.rows for r in results}
    assert rows["raw_hotline"] == query(path, f"select count(*) from raw.hotline where partition_year = {YEAR}")[0][0]
    recorded = json.loads(report.results_path().read_text(encoding="utf-8"))
    assert set(recorded) == {f"{s.name}/{YEAR}" for s in all_suites()}
    assert recorded[f"raw_hotline/{YEAR}"]["rows"] == rows["raw_hotline"]
    page = report.page_path().read_text(encoding="utf-8")
    assert "全部通过" in page and all(f'id="{s.name}-{YEAR}"' in page for s in all_suites())
    # GX keeps nothing on disk: its results hold unexpected values as read
    assert sorted(p.name for p in (tmp_path / "quality").iterdir()) == ["index.html", "results.json"]


def test_an_unexpected_rows_rule_scans_the_batch_once_to_count_its_rows(built_warehouse, tmp_path, monkeypatch):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    path = _copy(built_warehouse, tmp_path, monkeypatch)
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        (result,) = validate(path, ["raw_hotline"], [YEAR], UNITS, "counted")
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert result.success
    rules = [e["kwargs"]["unexpected_rows_query"] for e in read_suite("raw_hotline").expectations
             if e["type"] == "unexpected_rows_expectation"]
    assert len(rules) >= 5
    for rule in rules:
        condition = " ".join(rule.split())[-40:].replace("{{", "{").replace("}}", "}")
        runs = [s for s in statements if condition in s]
        assert len(runs) == 1 and runs[0].startswith("SELECT COUNT(*)"), (rule, runs)


CASES = [(suite.name, index, e["meta"]["rule"]) for suite in all_suites() for index, e in enumerate(suite.expectations)]


@pytest.mark.parametrize(("suite_name", "index", "rule"), CASES, ids=[f"{s}-{i}" for s, i, _ in CASES])
def test_a_planted_defect_fails_its_expectation(built_warehouse, tmp_path, monkeypatch, suite_name, index, rule):
    path = _copy(built_warehouse, tmp_path, monkeypatch)
    suite = read_suite(suite_name)
    with connect(path) as con:
        plant(con, suite, suite.expectations[index])
    # The suite reduced to the planted expectation: each expectation is evaluated on its own, and GX's
    # cost grows with the expectations it is given (the whole suite runs on clean data above).
    alone = dataclasses.replace(suite, expectations=[suite.expectations[index]])
    monkeypatch.setattr(validate_module, "read_suite", lambda name: alone)
    (result,) = validate(path, [suite_name], [YEAR], UNITS, "planted")
    assert result.evaluated == 1
    failures = {f.rule: f for f in result.failures}
    assert rule in failures, f"planted against {rule!r}, but only these failed: {list(failures)}"
    assert all(not f.examples[0].startswith("error:") for f in result.failures if f.examples), result.failures


def test_one_bad_ticket_among_a_million_is_caught(built_warehouse, tmp_path, monkeypatch):
    """Every row is checked, inside DuckDB: a million tickets, one of them from an unknown unit."""
    path = _copy(built_warehouse, tmp_path, monkeypatch)
    categories = str(list(SOURCES["hotline"].column("category").values))
    with connect(path) as con:
        con.execute(f"""
            delete from raw.hotline;
            insert into raw.hotline by name
            select 2018 as partition_year, 'T' || i as ticket_id,
                timestamp '2018-01-01' + to_seconds(i * 31) as received_at, sha256(i::varchar) as caller_key,
                {UNITS}[i % {len(UNITS)} + 1] as county_code, {categories}[i % 11 + 1] as category,
                '路灯不亮' as content, '12345' as intake_line,
                timestamp '2018-01-04' + to_seconds(i * 31) as due_at,
                timestamp '2018-01-02' + to_seconds(i * 31) as closed_at, '办结' as status, '满意' as rating,
                'hotline/2018/12345.csv' as source_file, i + 2 as line_number, 'million' as load_id,
                now()::timestamp as loaded_at
            from range(1000000) as t(i);
            update raw.hotline set county_code = '519999' where ticket_id = 'T777777';
        """)
    (result,) = validate(path, ["raw_hotline"], [YEAR], UNITS, "million")
    assert result.rows == 1_000_000
    assert [(f.rule, f.unexpected, f.examples) for f in result.failures] == [
        ("区县代码 (county_code) is a configured unit", 1, ["519999"])]


def test_a_failing_check_blocks_the_years_evaluation_and_keeps_the_data(raw, warehouse, tmp_path, monkeypatch,
                                                                        capsys):
    """Most of a development file out of range: the rows are rejected and kept, the reject-rate
    expectation fails, the year's dbt build does not run, and the run says why."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.defs.automation import yearly_job
    from tests.conftest import write_source

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    rows = [{"year": "2016", "county_code": code, "score": "150" if i < 6 else "80"} for i, code in enumerate(UNITS)]
    (raw / "development" / "2016" / "kaoping_2016.csv").unlink()
    write_source(raw / "development" / "2016" / "kaoping_2016.csv", "development", rows)

    result = defs.resolve_job_def(yearly_job.name).execute_in_process(
        partition_key="2016", instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    evaluations = {e.asset_check_key.asset_key.to_user_string(): e for e in
                   (ev.event_specific_data for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION")}
    failed = evaluations["raw/development"]
    assert not failed.passed
    assert "raw_development_files: no file has more than 25% of its rows rejected" in failed.description
    assert "0.545" in failed.metadata["failed_expectations"].value  # 6 of 11 rows, the observed rate
    page = Path(url2pathname(urlparse(failed.metadata["quality_report"].value).path)).read_text(encoding="utf-8")
    assert "未通过" in page and "no file has more than 25% of its rows rejected" in page
    assert all(evaluations[k].passed for k in ("raw/cases", "raw/hotline", "raw/surveys", "raw/inspections"))
    failed_steps = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed_steps == ["raw_expectations"]  # one step checks every source, each with its own result
    assert "jingtu_dbt_models" not in {e.step_key for e in result.all_events if e.is_step_success}
    assert query(warehouse, "select count(*) from information_schema.tables where table_schema = 'marts'") == [(0,)]
    assert query(warehouse, "select count(*) from raw.rejects where source = 'development' and partition_year = 2016"
                            " and reason like '%above 100%'") == [(6,)]
    assert query(warehouse, "select count(*) from raw.development where partition_year = 2016") == [(5,)]
    # the sources that passed are validated; the failing one stays pending, to be checked again next run
    validated = {source for (source,) in query(warehouse, "select distinct source from quality.validated_loads")}
    loaded = {source for (source,) in query(warehouse, "select distinct source from raw.load_files")}
    assert validated == loaded - {"development"} and len(validated) >= 3
    # what jingtu prints of it: the check, the step in plain words, where the findings are, what readers see
    capsys.readouterr()  # the run's own log
    assert not cli.report_failure(result, io.StringIO())
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("  CHECK FAILED raw/development:expectations: 1 expectation(s) failed")
    assert said[-3:] == [
        "  FAILED raw_expectations: a blocking check failed (above): nothing that reads the data it checks was built",
        f"  what the checks found, with examples: {report.page_path()}",
        "  the serving file BI tools read and the portraits are still the last completed run's"]


def test_the_gx_dialect_keeps_results_and_rewrites_in_lists_faithfully(tmp_path):
    import sqlalchemy as sa

    from orchestration.quality import gx_duckdb

    # a folder name a URL would read otherwise: %20 decoded to a space, '#' ending the path
    database = tmp_path / "50%20 a#c" / "t.duckdb"
    database.parent.mkdir()
    engine = sa.create_engine(gx_duckdb.connection_string(database))
    with engine.connect() as con:
        con.execute(sa.text("create table t as select * from (values ('a'), ('b'), (null)) as v(x)"))
    t = sa.table("t", sa.column("x"))
    cases = {t.c.x.in_(["a", "c"]): ["a"], t.c.x.not_in(["a", "c"]): ["b"], t.c.x.in_([]): [],
             t.c.x.not_in([]): ["a", "b", None], t.c.x.in_(sa.select(t.c.x).where(t.c.x == "b")): ["b"]}
    for condition, expected in cases.items():
        with engine.connect() as con:  # results read after the connection is closed, as GX does
            result = con.execute(sa.select(t.c.x).where(condition).order_by(t.c.x))
        assert [r[0] for r in result] == expected, str(condition)
    assert "list_contains(['a', 'c'], t.x)" in str(sa.select(t.c.x).where(t.c.x.in_(["a", "c"])).compile(engine))
    gx_duckdb.close_connections()
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*.duckdb")] == [database.relative_to(tmp_path)]


def test_a_raw_check_validates_only_the_loads_not_yet_validated(raw, warehouse, tmp_path, monkeypatch):
    """December appended: the check reads December's rows alone; a bad file keeps failing until fixed."""
    from dagster import AssetKey, DagsterInstance, materialize

    from orchestration.defs.ingestion import ingestion_assets
    from orchestration.defs.quality import raw_expectations
    from orchestration.resources import Warehouse
    from tests.conftest import write_source

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_QUALITY", str(tmp_path / "quality"))
    key = AssetKey(["raw", "hotline"])
    selection = [next(a for a in ingestion_assets if a.key == key), raw_expectations]
    instance = DagsterInstance.ephemeral()

    def run():
        result = materialize(selection, selection=[key], partition_key=str(YEAR),
                             resources={"warehouse": Warehouse()}, instance=instance, raise_on_error=False)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation.passed, evaluation.metadata["loads_validated"].value, \
            evaluation.metadata["rows_validated"].value["raw_hotline"]

    folder = raw / "hotline" / str(YEAR)
    december = (folder / "12345_2018-12.csv").rename(tmp_path / "12345_2018-12.csv")
    first = run()
    assert first[:2] == (True, 1) and first[2] == query(warehouse, "select count(*) from raw.hotline")[0][0]

    def expectations_evaluated() -> int:
        return json.loads(report.results_path().read_text(encoding="utf-8"))[f"raw_hotline/{YEAR}"]["evaluated"]

    assert expectations_evaluated() > 10
    assert run() == (True, 0, 0)  # nothing loaded since: nothing validated, GX not run
    assert expectations_evaluated() == 0
    december.rename(folder / december.name)
    (before_december,) = query(warehouse, "select count(*) from raw.hotline")[0]
    passed, loads, rows = run()
    assert (passed, loads) == (True, 1)
    assert rows == query(warehouse, "select count(*) from raw.hotline")[0][0] - before_december > 100
    ticket = {"received_at": "2018-12-30 08:00:00", "county_code": "511124", "category": "其他", "intake_line": "12345",
              "due_at": "2018-12-31 08:00:00", "status": "办理中"}
    write_source(folder / "12345_2018-12_late.csv", "hotline",
                 [{**ticket, "ticket_id": f"LATE{i}", "county_code": "999999" if i % 2 else "511124"} for i in range(10)])
    assert run() == (False, 1, 5)
    assert run() == (False, 1, 5)  # not validated, so checked again: the bad file keeps blocking
    (folder / "12345_2018-12_late.csv").unlink()  # the partition is reloaded whole, and checked whole
    passed, loads, rows = run()
    assert (passed, loads, rows) == (True, 1, query(warehouse, "select count(*) from raw.hotline")[0][0])
