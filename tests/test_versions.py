"""Methodology versions as data (seeds keyed by version): a year graded under a past version is
reproduced exactly after the default changes; versions chosen per year and per run; every result row
names its version; an unknown version is refused."""

import json
import shutil

import pytest

from orchestration.dbt import DBT_PROJECT_DIR, PARTIAL_PARSE
from orchestration.lib.duck import connect
from tests.conftest import run_dbt

PUBLISHED = ("fct_county_evaluation", "fct_indicators", "fct_components", "fct_grade_confidence")


def copy_of(source, tmp_path, name: str):
    folder = tmp_path / name
    folder.mkdir()
    path = folder / source.name  # the file's stem is the catalog's name in dbt's relations
    shutil.copyfile(source, path)
    return path


def rows(warehouse, year: int) -> dict[str, list[tuple]]:
    with connect(warehouse, read_only=True) as con:
        return {table: con.execute(f"select * from marts.{table} where year = {year} order by all").fetchall()
                for table in PUBLISHED}


def build(warehouse, monkeypatch, version: str | None = None, project_dir=DBT_PROJECT_DIR, *extra):
    with monkeypatch.context() as env:
        if version:
            env.setenv("JINGTU_METHODOLOGY_VERSION", version)
        run_dbt(warehouse, "seed", project_dir=project_dir)
        run_dbt(warehouse, "build", "--exclude", "resource_type:seed", "path:models/monitoring", *extra,
                project_dir=project_dir, year=2017)


@pytest.fixture
def changed_default(tmp_path):
    """A copy of the dbt project whose default version, 2019.1, weighs development 0.30 and clean
    governance 0.15 (2018.1 keeps 0.20 and 0.25)."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seed = project / "seeds" / "methodology_indicators.csv"
    text = seed.read_text(encoding="utf-8")
    for old, new in (("2019.1,development,0.20", "2019.1,development,0.30"),
                     ("2019.1,clean_governance,0.25", "2019.1,clean_governance,0.15")):
        assert old in text
        text = text.replace(old, new)
    seed.write_text(text, encoding="utf-8")
    return project


def test_a_year_rerun_under_its_version_reproduces_what_was_published(raw_warehouse, tmp_path, monkeypatch,
                                                                       changed_default):
    warehouse = copy_of(raw_warehouse, tmp_path, "versions")
    build(warehouse, monkeypatch, "2018.1")
    published = rows(warehouse, 2017)
    assert all(published.values()) and {r[-1] for r in published["fct_county_evaluation"]} == {"2018.1"}

    build(warehouse, monkeypatch, None, changed_default)  # the new default, 2019.1, weighs differently
    regraded = rows(warehouse, 2017)
    assert {r[-1] for r in regraded["fct_county_evaluation"]} == {"2019.1"}
    assert regraded["fct_county_evaluation"] != published["fct_county_evaluation"]

    build(warehouse, monkeypatch, "2018.1", changed_default)  # the past year, under its version again
    reproduced = rows(warehouse, 2017)
    for table in PUBLISHED:
        assert reproduced[table] == published[table], next(
            (ours, theirs) for ours, theirs in zip(reproduced[table], published[table]) if ours != theirs)


def test_a_year_can_keep_its_version_while_the_others_take_the_default(built_warehouse, tmp_path):
    warehouse = copy_of(built_warehouse, tmp_path, "by_year")
    run_dbt(warehouse, "build", "--exclude", "resource_type:seed", "--vars",
            json.dumps({"methodology_version_by_year": {2017: "2018.1"}}))
    with connect(warehouse) as con:
        versions = dict(con.execute("select year, string_agg(distinct methodology_version) "
                                    "from marts.fct_county_evaluation group by 1").fetchall())
        warnings = dict(con.execute("select year(month), string_agg(distinct methodology_version) "
                                    "from marts.fct_early_warnings group by 1").fetchall())
    assert versions == {2015: "2019.1", 2016: "2019.1", 2017: "2018.1", 2018: "2019.1"}
    assert warnings.get(2017) == "2018.1" and warnings.get(2018) == "2019.1"


def test_a_run_under_a_version_grades_its_years_alone_under_it(built_warehouse, tmp_path, monkeypatch):
    """A run for 2017 under 2018.1 also writes 2018's warnings (their windows reach back into 2017),
    but under 2018's own version: they come out as they were."""
    warehouse = copy_of(built_warehouse, tmp_path, "run_version")
    monkeypatch.setenv("JINGTU_METHODOLOGY_VERSION", "2018.1")
    run_dbt(warehouse, "run", "--exclude", "resource_type:seed", year=2017)

    def warnings(path):
        with connect(path, read_only=True) as con:
            return con.execute("select year(month), methodology_version, count(*) from marts.fct_early_warnings"
                               " where year(month) >= 2017 group by all order by all").fetchall()

    assert [(year, version) for year, version, _ in warnings(warehouse)] == [(2017, "2018.1"), (2018, "2019.1")]
    assert [row for row in warnings(warehouse) if row[0] == 2018] == [
        row for row in warnings(built_warehouse) if row[0] == 2018]


def test_an_unknown_version_is_refused_with_its_name(raw_warehouse, tmp_path, monkeypatch):
    warehouse = copy_of(raw_warehouse, tmp_path, "unknown")
    monkeypatch.setenv("JINGTU_METHODOLOGY_VERSION", "2030.9")
    run_dbt(warehouse, "seed")
    success, messages = run_dbt(warehouse, "build", "--exclude", "resource_type:seed", check=False, year=2017)
    assert not success and "methodology version 2030.9 is in force but not in methodology_versions.csv" in messages


NEW_COMPONENT = """veto_free_cases as (
    select year, county_code, 'veto_free_cases' as component,
        100.0 * count(*) filter (where not is_veto_trigger) / count(*) as value,
        count(*) filter (where not is_veto_trigger) as numerator, count(*) as denominator,
        null::double as standard_error
    from {{ ref('stg_cases__records') }}
    where is_filed and year(filed_on) = year and {{ in_partition('year') }}
    group by all
),

all_components as ("""


def test_a_new_indicator_is_a_change_to_the_seeds_and_one_component_model(raw_warehouse, tmp_path, monkeypatch):
    """A seventh indicator, case_handling (weight 0.10, taken from development), from an existing
    source: rows in two seeds and one producer in int_component_values; nothing else is edited."""
    from orchestration import methodology, methodology_doc

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seeds = project / "seeds"
    indicators, components = seeds / "methodology_indicators.csv", seeds / "methodology_components.csv"
    for version in ("2018.1", "2019.1"):
        text = indicators.read_text(encoding="utf-8").replace(f"{version},development,0.20", f"{version},development,0.10")
        indicators.write_text(text + f"{version},case_handling,0.10,案件办理,Case handling,7\n", encoding="utf-8")
        with components.open("a", encoding="utf-8") as f:
            f.write(f"{version},veto_free_cases,case_handling,1.0,professional,cases,,无留置案件占比,"
                    "Filed cases without detention,binomial\n")
    model = project / "models" / "intermediate" / "int_component_values.sql"
    text = model.read_text(encoding="utf-8")
    for old, new in (("'inspection_rectification'] %}", "'inspection_rectification', 'veto_free_cases'] %}"),
                     ("all_components as (", NEW_COMPONENT),
                     ("    union all select * from inspections\n",
                      "    union all select * from inspections\n    union all select * from veto_free_cases\n")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    model.write_text(text, encoding="utf-8")

    warehouse = copy_of(raw_warehouse, tmp_path, "seventh")
    saved_parse = PARTIAL_PARSE.read_bytes() if PARTIAL_PARSE.exists() else None
    build(warehouse, monkeypatch, None, project)
    # the copy's dbt kept its parse in the copy's target/: the project's next dbt reads the project's files
    assert (PARTIAL_PARSE.read_bytes() if PARTIAL_PARSE.exists() else None) == saved_parse
    with connect(warehouse) as con:
        columns = [c for (c,) in con.execute("select column_name from information_schema.columns where table_name"
                                             " = 'fct_county_evaluation' order by ordinal_position").fetchall()]
        assert columns[columns.index("committee_evaluation") + 1] == "case_handling"
        (units, checked, off) = con.execute("""
            select count(*), count(e.case_handling),
                max(abs(e.composite - (0.10 * e.development + 0.25 * e.clean_governance + 0.15 * e.government_conduct
                    + 0.15 * e.cadre_selection + 0.10 * e.public_safety + 0.15 * e.committee_evaluation
                    + 0.10 * e.case_handling)))
            from marts.fct_county_evaluation as e
            inner join marts.fct_indicators as i
                on i.year = e.year and i.county_code = e.county_code and i.indicator = 'case_handling'
            where e.year = 2017 and i.value = e.case_handling""").fetchone()
    assert units == checked == 11 and off < 1e-9

    monkeypatch.setattr(methodology, "SEEDS", seeds)
    marts_yml = methodology_doc.render(methodology_doc.YAML_DOCS[0].read_text(encoding="utf-8"))
    assert "- name: case_handling\n        description: 案件办理 (Case handling)" in marts_yml
