"""The Great Expectations gates: suites in step with the contracts, one planted defect per
expectation caught by it, every row checked at scale, and a failing check blocking the year."""

import re
import shutil

import pytest

from orchestration.ingest import configured_units
from orchestration.lib.duck import connect
from orchestration.quality.suites import all_suites, read_suite, write_suites
from orchestration.quality.validate import validate
from tests.conftest import UNITS_CSV, query
from tests.conftest import run_dbt as dbt

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
    ("marts_fct_county_evaluation", "every configured unit"): "delete from {t} where {row}",
    ("marts_fct_county_evaluation", "grade is the highest"):
        "update {t} set grade = case when grade = '差' then '好' else '差' end where {row}",
    ("config_methodology", "inside each indicator"):
        "update config.methodology_components set weight = weight + 0.1"
        " where rowid = (select min(rowid) from config.methodology_components)",
}


def plant(con, suite, expectation: dict) -> None:
    """Break `expectation` on one row of the suite's batch."""
    table = re.search(r" from (\S+)", suite.batch).group(1)
    condition = suite.batch.split(" where ", 1)[1].format(year=YEAR) if " where " in suite.batch else "true"
    row = f"rowid = (select min(rowid) from {table} where {condition})"
    rule, kwargs = expectation["meta"]["rule"], expectation["kwargs"]
    custom = [sql for (name, start), sql in PLANTS.items()
              if (name == suite.name or (name == "files" and suite.name.endswith("_files"))) and rule.startswith(start)]
    if custom:
        source = suite.name.removeprefix("raw_").removesuffix("_files")
        con.execute(custom[0].format(t=table, row=row, source=source, year=YEAR))
        return
    column, kind = kwargs.get("column"), expectation["type"]
    if kind == "expect_column_values_to_not_be_null":
        con.execute(f"update {table} set {column} = null where {row}")
    elif kind == "expect_column_values_to_be_in_set":
        (sql_type,) = con.execute(f"select typeof({column}) from {table} limit 1").fetchone()
        con.execute(f"update {table} set {column} = {99 if sql_type == 'INTEGER' else repr('999999')} where {row}")
    elif kind == "expect_column_values_to_be_between":
        value = kwargs["max_value"] + 1 if "max_value" in kwargs else kwargs["min_value"] - (
            0 if kwargs.get("strict_min") else 1)
        con.execute(f"update {table} set {column} = {value} where {row}")
    elif kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        con.execute(f"insert into {table} select * from {table} where {row}")
    elif kind == "expect_table_columns_to_match_set":
        con.execute(f"alter table {table} add column caller_name varchar")
    elif kind == "expect_column_sum_to_be_between":
        con.execute(f"update {table} set {column} = {column} + 0.1 where {row}")
    else:
        raise AssertionError(f"no way to plant a defect for {suite.name}: {rule}")


@pytest.fixture(scope="module")
def evaluated_warehouse(raw_warehouse, tmp_path_factory):
    """The small sample with every year's marts built."""
    path = tmp_path_factory.mktemp("evaluated") / "jingtu.duckdb"
    shutil.copyfile(raw_warehouse, path)
    dbt(path, "build")
    with connect(path) as con:  # dbt keeps its connection: flush the WAL so that copies are complete
        con.execute("checkpoint")
    return path


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


def test_clean_data_meets_every_suite_with_data_docs(evaluated_warehouse, tmp_path, monkeypatch):
    path = _copy(evaluated_warehouse, tmp_path, monkeypatch)
    results = validate(path, [s.name for s in all_suites()], YEAR, UNITS, "clean")
    assert [(r.suite, r.failures) for r in results if not r.success] == []
    rows = {r.suite: r.rows for r in results}
    assert rows["raw_hotline"] == query(path, f"select count(*) from raw.hotline where partition_year = {YEAR}")[0][0]
    assert rows["marts_fct_county_evaluation"] == len(UNITS)
    for result in results:
        page = result.docs_url.removeprefix("file://")
        assert page.startswith(str(tmp_path / "quality" / "data_docs")) and open(page).read()
    assert (tmp_path / "quality" / "data_docs" / "index.html").exists()


CASES = [(suite.name, index, e["meta"]["rule"]) for suite in all_suites() for index, e in enumerate(suite.expectations)]


@pytest.mark.parametrize(("suite_name", "index", "rule"), CASES, ids=[f"{s}-{i}" for s, i, _ in CASES])
def test_a_planted_defect_fails_its_expectation(evaluated_warehouse, tmp_path, monkeypatch, suite_name, index, rule):
    path = _copy(evaluated_warehouse, tmp_path, monkeypatch)
    suite = read_suite(suite_name)
    with connect(path) as con:
        plant(con, suite, suite.expectations[index])
    (result,) = validate(path, [suite_name], YEAR, UNITS, "planted", data_docs=False)
    failures = {f.rule: f for f in result.failures}
    assert rule in failures, f"planted against {rule!r}, but only these failed: {list(failures)}"
    assert all(not f.examples[0].startswith("error:") for f in result.failures if f.examples), result.failures
