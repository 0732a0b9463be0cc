"""The dbt project: yearly partitions, configuration checks, documentation."""

import json
import os
import shutil
import signal

import msgpack
import pytest

from orchestration.dbt import (
    DBT_PROJECT_DIR,
    LOG_OFF,
    dbt_project,
    failure_messages,
    invoke_dbt,
    partition_env,
)
from orchestration.lib.duck import EXTENSIONS, connect
from tests.conftest import query
from tests.conftest import run_dbt as dbt

YEARS = (2015, 2016, 2017, 2018)
MARTS = ("dim_county", "fct_components", "fct_indicators", "fct_county_evaluation", "fct_case_events_monthly",
         "fct_hotline_daily", "fct_hotline_intake_lines", "fct_inspection_stats", "fct_grade_confidence")
# Monthly: a month's trailing windows, baselines and CUSUMs reach back into the months before it.
MONITORING = ("fct_monitoring_monthly", "fct_warning_funnels", "fct_warning_surges", "fct_early_warnings",
              "fct_early_warnings_all_versions")


def copy_of(raw_warehouse, tmp_path, name: str):
    path = tmp_path / name / "jingtu.duckdb"
    path.parent.mkdir()
    shutil.copyfile(raw_warehouse, path)
    return path


def marts(warehouse, names=MARTS) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted, with doubles rounded to 1e-9: parallel sums in DuckDB may differ in
    the last bits from one run to the next."""
    with connect(warehouse, read_only=True) as con:
        tables = {}
        for mart in names:
            columns = con.execute(f"select column_name, data_type from information_schema.columns where "
                                  f"table_schema = 'marts' and table_name = '{mart}' order by ordinal_position").fetchall()
            select = ", ".join(f"round({c}, 9)" if t == "DOUBLE" else c for c, t in columns)
            tables[mart] = con.execute(f"select {select} from marts.{mart} order by all").fetchall()
        return tables


def test_the_partition_reaches_dbt_in_environment_variables_read_only_while_executing(tmp_path):
    """A partition in `--vars`, or in a variable read while parsing, would make dbt re-parse."""
    assert partition_env(year="2017") == {"JINGTU_DBT_YEAR": "2017", "JINGTU_DBT_MONTHS": ""}
    assert [partition_env(years=years)["JINGTU_DBT_YEAR"] for years in ([2018], [2018, 2016, 2017], [2018, 2016])] \
        == ["2018", "2016..2018", "2016,2018"]
    assert partition_env(months=("2018-01", "2018-06"))["JINGTU_DBT_MONTHS"] == "2018-01..2018-06"
    assert partition_env() == {"JINGTU_DBT_YEAR": "", "JINGTU_DBT_MONTHS": ""}
    dbt(tmp_path / "parse_only.duckdb", "parse", "--target-path", str(tmp_path), year=2017)
    saved = msgpack.unpackb((tmp_path / "partial_parse.msgpack").read_bytes(), strict_map_key=False)
    assert "JINGTU_UNITS" in saved["env_vars"]  # dbt records what the files read while parsing
    assert not set(partition_env()) & set(saved["env_vars"])


def test_dbt_encrypts_what_duckdb_spills_as_the_loader_does(tmp_path):
    """dbt's connections take the same settings as the project's own (`encrypt_spills`; what they do is
    shown by test_ingest's test of the spill files)."""
    settings_sql = ("select current_setting('temp_file_encryption') as encrypted,"
                    " current_setting('extension_directory') as folder")
    shown = invoke_dbt(["show", "--quiet", "--no-write-json", "--inline", settings_sql, "--project-dir",
                        str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)], warehouse=tmp_path / "w.duckdb")
    assert shown.success, failure_messages(shown)
    with connect(tmp_path / "own.duckdb") as con:
        own = con.execute(settings_sql).fetchone()
    assert own == (True, str(EXTENSIONS)) and tuple(shown.result.results[0].agate_table.rows[0]) == own


def test_single_year_runs_in_any_order_equal_a_build_of_every_year(raw_warehouse, built_warehouse, tmp_path):
    shuffled = copy_of(raw_warehouse, tmp_path, "shuffled")
    dbt(shuffled, "seed")
    for year in (2018, 2016, 2015, 2017, 2016):  # any order, one year twice
        dbt(shuffled, "run", year=year)
    expected = marts(built_warehouse, MARTS + MONITORING)
    assert len(expected["fct_county_evaluation"]) == 44 and len(expected["fct_warning_funnels"]) == 2 * 11 * 48
    assert marts(shuffled, MARTS + MONITORING) == expected


def test_an_interrupt_during_a_build_is_raised_once_dbt_is_done_with_the_warehouse(built_warehouse, tmp_path,
                                                                                    capsys):
    """Ctrl-C, or Dagster stopping the step of a run terminated from the UI, raises an interrupt in the
    thread that called dbt. Raised inside dbt's wait for its threads, it was dbt's: DuckDB was closed
    while those threads still ran queries on it (a process aborted so), and the interrupt came back as a
    failed build. It comes once dbt is done: every model has run, then the interrupt, the warehouse free;
    meanwhile the wait is said."""
    warehouse = copy_of(built_warehouse, tmp_path, "interrupted")
    statuses = []

    def interrupt_once_a_model_has_run(message) -> None:  # in one of dbt's threads, mid-build
        if message.info.name == "NodeFinished":
            statuses.append(message.data.node_info.node_status)
            if len(statuses) == 1:
                os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # however pytest was started
    try:
        with pytest.raises(KeyboardInterrupt):
            invoke_dbt(["run", "--select", "staging", "--no-write-json", *LOG_OFF, "--project-dir", str(DBT_PROJECT_DIR),
                        "--profiles-dir", str(DBT_PROJECT_DIR)], partition_env(year=2018),
                       [interrupt_once_a_model_has_run], warehouse=warehouse)
    finally:
        signal.signal(signal.SIGINT, previous)
    manifest = json.loads(dbt_project.manifest_path.read_text())
    models = [node for node in manifest["nodes"].values()
              if node["resource_type"] == "model" and node["fqn"][1] == "staging"]
    assert statuses == ["success"] * len(models)
    assert capsys.readouterr().err.startswith("interrupted: dbt finishes what it has begun first")
    connect(warehouse).close()


def test_a_years_changed_data_reaches_the_warnings_of_the_months_after_it(built_warehouse, tmp_path):
    """A corrected delivery for 2017 (its last quarter's cases gone) re-run for 2017 alone leaves the
    same warnings as a build of every year: 2018's trailing windows and CUSUMs reach back into 2017."""
    rerun, rebuilt = copy_of(built_warehouse, tmp_path, "rerun"), copy_of(built_warehouse, tmp_path, "rebuilt")
    for warehouse in (rerun, rebuilt):
        with connect(warehouse) as con:
            (gone,) = con.execute("delete from raw.cases where filed_on >= date '2017-10-01'"
                                  " and filed_on < date '2018-01-01'").fetchone()
            assert gone > 0
    dbt(rerun, "run", year=2017)
    dbt(rebuilt, "run")
    expected = marts(rebuilt, MONITORING)
    assert expected != marts(built_warehouse, MONITORING)  # 2018's warnings do change
    assert marts(rerun, MONITORING) == expected


def test_a_rerun_inserts_into_the_tables_in_place_and_replaces_views_in_one_statement(built_warehouse, tmp_path):
    """The short paths of macros/materializations.sql are taken when the columns are unchanged (what
    they build is the test above: runs after the first equal a full build)."""
    warehouse = copy_of(built_warehouse, tmp_path, "rerun")
    dbt(warehouse, "run", "-s", "fct_indicators", "stg_cases__records", year=2018)
    ran = DBT_PROJECT_DIR / dbt_project.target_path / "run" / "jingtu" / "models"
    assert 'insert into "jingtu"."marts"."fct_indicators" by name' in (ran / "marts" / "fct_indicators.sql").read_text()
    assert "create or replace view" in (ran / "staging" / "stg_cases__records.sql").read_text()
    assert query(warehouse, "select distinct year from marts.fct_indicators order by 1") == [(y,) for y in YEARS]


def test_the_staging_models_do_not_read_the_pending_rows_of_a_load_in_progress(built_warehouse):
    with connect(built_warehouse) as con:
        con.execute("begin transaction")  # rolled back: the shared warehouse is left as it was
        for source, model in (("hotline", "stg_hotline__tickets"), ("cases", "stg_cases__records"),
                              ("inspections", "stg_inspections__findings"), ("surveys", "stg_surveys__responses"),
                              ("development", "stg_development__assessments")):
            (settled,) = con.execute(f"select count(*) from staging.{model}").fetchone()
            con.execute(f"insert into raw.{source} select * replace (-partition_year as partition_year)"
                        f" from raw.{source}")  # as a load of every year would leave them until it settles
            assert con.execute(f"select count(*) from staging.{model}").fetchone() == (settled,), model
        con.execute("rollback")


def test_a_yearly_run_touches_only_its_year(raw_warehouse, tmp_path):
    warehouse = copy_of(raw_warehouse, tmp_path, "one_year")
    dbt(warehouse, "seed")
    dbt(warehouse, "run", year=2016)
    with connect(warehouse, read_only=True) as con:
        for mart in MARTS[1:]:
            years = {y for (y,) in con.execute(f"select distinct year from marts.{mart}").fetchall()}
            assert years <= {2016}, mart  # the hotline marts stay empty: no tickets before 2018
        assert con.execute("select count(*) from marts.fct_county_evaluation").fetchone() == (11,)


@pytest.fixture
def project_copy(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_a_release_that_adds_drops_and_retypes_a_marts_columns_changes_the_table_in_place(built_warehouse,
                                                                                          project_copy, tmp_path):
    """on_schema_change, for a run of one year: the mart (sync_all_columns) takes the new column, loses
    the dropped one and retypes the third, its other years keeping their rows; the append-only
    publication (append_new_columns) only takes the new column."""
    model = project_copy / "models" / "marts" / "fct_indicators.sql"
    text = model.read_text(encoding="utf-8")
    retyped_and_added = "methodology.indicator_order::double as indicator_order, 1 as release,"
    for old, new in (("methodology.indicator_order,", retyped_and_added), ("methodology.indicator_label_en,", "")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    model.write_text(text, encoding="utf-8")
    warehouse = copy_of(built_warehouse, tmp_path, "release")
    before = query(warehouse, "select year, county_code, indicator, indicator_order from marts.fct_indicators"
                              " order by all")
    dbt(warehouse, "run", "-s", "fct_indicators", project_dir=project_copy, year=2018)
    columns = dict(query(warehouse, "select column_name, data_type from duckdb_columns() where table_name"
                                    " = 'fct_indicators'"))
    assert (columns["indicator_order"], columns["release"], "indicator_label_en" in columns) == ("DOUBLE", "INTEGER",
                                                                                                False)
    assert query(warehouse, "select year, county_code, indicator, indicator_order::integer from marts.fct_indicators"
                            " order by all") == before
    assert query(warehouse, "select year, count(release) from marts.fct_indicators group by 1 order by 1") == [
        (2015, 0), (2016, 0), (2017, 0), (2018, 66)]
    # the append-only publication (append_new_columns) takes the new column, and keeps what history has
    with connect(warehouse) as con:
        con.execute("delete from marts.fct_indicators_published where year = 2018")  # 2018 not yet published
    dbt(warehouse, "run", "-s", "fct_indicators_published", project_dir=project_copy, year=2018)
    published = dict(query(warehouse, "select column_name, data_type from duckdb_columns() where table_name"
                                      " = 'fct_indicators_published'"))
    assert (published["indicator_order"], published["release"], published["indicator_label_en"]) == (
        "INTEGER", "INTEGER", "VARCHAR")
    assert query(warehouse, "select year, count(*), count(release), count(indicator_label_en) from"
                            " marts.fct_indicators_published group by 1 order by 1") == [
        (2015, 66, 0, 66), (2016, 66, 0, 66), (2017, 66, 0, 66), (2018, 66, 66, 0)]


# Each a change to a seed that breaks one rule, and the problem the build must name.
INVALID_CONFIGURATION = [
    ("methodology_indicators.csv", ("development,0.20", "development,0.25"),
     "indicator weights sum to 1.05, not 1"),
    ("methodology_components.csv", ("hotline_on_time,government_conduct,0.2", "hotline_on_time,government_conduct,0.3"),
     "components of indicator government_conduct have weights summing to 1.1, not 1"),
    ("methodology_components.csv", ("dev_assessment,development", "dev_assessment,prosperity"),
     "component dev_assessment names an unknown indicator prosperity"),
    ("methodology_grades.csv", ("较好,fairly good,2,80", "较好,fairly good,2,95"),
     "grade thresholds overlap: 较好 (min 95.0) is not below 好 (min 90.0)"),
]


def test_an_invalid_configuration_stops_the_build_before_any_mart_naming_every_problem(raw_warehouse, tmp_path,
                                                                                       project_copy):
    """Every broken rule at once, and an unknown veto-cap grade: one build (dbt parses a copied project
    afresh, which is most of its time), one message naming each problem."""
    for seed, (before, after), _ in INVALID_CONFIGURATION:
        path = project_copy / "seeds" / seed
        text = path.read_text(encoding="utf-8")
        assert before in text
        path.write_text(text.replace(before, after), encoding="utf-8")
    warehouse = copy_of(raw_warehouse, tmp_path, "invalid")
    success, messages = dbt(warehouse, "build", "--vars", json.dumps({"veto_cap_grade": "中等"}),
                            project_dir=project_copy, check=False)
    assert not success
    assert "Invalid methodology configuration" in messages
    for *_, problem in INVALID_CONFIGURATION:
        assert problem in messages
    assert "veto_cap_grade 中等 is not a configured grade" in messages
    with connect(warehouse, read_only=True) as con:
        built = con.execute("select count(*) from information_schema.tables where table_schema = 'marts'"
                            ).fetchone()
    assert built == (0,)


def test_every_model_seed_and_column_is_documented_and_docs_generate(built_warehouse, tmp_path):
    dbt(built_warehouse, "docs", "generate", "--target-path", str(tmp_path / "target"))
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    manifest = json.loads(dbt_project.manifest_path.read_text())
    nodes = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] in ("model", "seed")}
    assert len(nodes) >= 20
    for key, node in nodes.items():
        assert node["description"].strip(), f"{key} has no description"
        if node["config"]["materialized"] == "ephemeral":
            continue  # no relation in the warehouse: its columns are documented, not catalogued
        columns = catalog["nodes"][key]["columns"]
        for column in columns:
            documented = node["columns"].get(column, {}).get("description", "").strip()
            assert documented, f"{key}.{column} is not documented"
    assert (tmp_path / "target" / "index.html").exists()


def test_the_hotline_aggregate_rebuilds_only_the_months_loaded_since(raw, warehouse, load, tmp_path):
    """December appended: only December is computed (a marked month stays as it was); a file
    removed: the partition is reloaded and every month rebuilt, the removed one dropped."""
    build = ("build", "--select", "+int_hotline_unit_days")
    aggregate = ("select received_on, county_code, tickets_received, conduct_complaints"
                 " from intermediate.int_hotline_unit_days order by all")
    from_tickets = ("select received_at::date, county_code, count(*),"
                    " count(*) filter (where category in ('干部作风', '腐败问题')) from raw.hotline group by all order by all")
    folder = raw / "hotline" / "2018"
    december = (folder / "12345_2018-12.csv").rename(tmp_path / "12345_2018-12.csv")
    load("hotline", 2018)
    dbt(warehouse, *build, year=2018)
    with connect(warehouse) as con:  # a mark that a rebuild of May would erase
        con.execute("update intermediate.int_hotline_unit_days set conduct_complaints = -1"
                    " where received_month = date '2018-05-01'")
    december.rename(folder / december.name)
    assert load("hotline", 2018).mode == "append"
    dbt(warehouse, *build, year=2018)
    built, expected = query(warehouse, aggregate), query(warehouse, from_tickets)
    may = [row for row in built if row[0].month == 5]
    assert may and all(row[3] == -1 for row in may)
    assert [r for r in built if r[0].month != 5] == [r for r in expected if r[0].month != 5]
    assert any(r[0].month == 12 for r in built)

    (folder / "12345_2018-11.csv").unlink()
    assert load("hotline", 2018).mode == "full"
    dbt(warehouse, *build, year=2018)
    built = query(warehouse, aggregate)
    assert built == query(warehouse, from_tickets)
    assert not any(r[0].month == 11 for r in built) and any(r[0].month == 5 for r in built)


def test_a_configured_component_without_a_producer_stops_the_build_naming_both_sides(raw_warehouse, tmp_path,
                                                                                      project_copy):
    """A typo in a component code: the configured code has no producer, and the produced one no
    configuration. Without the check the component would be silently missing everywhere."""
    path = project_copy / "seeds" / "methodology_components.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("2019.1,hotline_on_time,", "2019.1,hotline_on_tme,"), encoding="utf-8")
    warehouse = copy_of(raw_warehouse, tmp_path, "producers")
    success, messages = dbt(warehouse, "build", project_dir=project_copy, check=False)
    assert not success
    assert ("component hotline_on_tme (2019.1) has no producer in models/intermediate/int_component_values.sql"
            in messages)
    assert "int_component_values produces hotline_on_time, which no methodology version in force configures" \
        in messages
    with connect(warehouse) as con:
        assert con.execute("select count(*) from information_schema.tables where table_name = 'fct_components'"
                           ).fetchone() == (0,)


def test_a_unit_missing_from_the_evaluation_fails_its_dbt_test(built_warehouse, tmp_path):
    warehouse = copy_of(built_warehouse, tmp_path, "missing_unit")
    select = ("--select", "test_name:every_unit_has_a_row")
    assert dbt(warehouse, "test", *select, year=2018)[0]
    with connect(warehouse) as con:
        con.execute("delete from marts.fct_county_evaluation where year = 2018 and county_code = '511112'")
    success, messages = dbt(warehouse, "test", *select, year=2018, check=False)
    assert not success and "Got 1 result" in messages
