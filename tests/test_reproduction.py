"""End to end on the full sample: the warehouse reproduces the report's figures
(../shared/spec/seed-figures.md), read from the marts — never from the generator."""

from datetime import date
from pathlib import Path

import pytest
from dagster import materialize

from orchestration.definitions import defs
from orchestration.lib.duck import connect
from orchestration.sample import generate
from tests.conftest import UNITS_CSV

pytestmark = pytest.mark.e2e
YEARS = (2015, 2016, 2017, 2018)
JAN_JUL = {2017: (date(2017, 1, 1), date(2017, 7, 1)), 2018: (date(2018, 1, 1), date(2018, 7, 1))}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The default sample, materialised through Dagster into a fresh warehouse: every asset of every
    year in one run, the early warnings, portraits and serving file included, as `jingtu materialize` does."""
    root = tmp_path_factory.mktemp("full")
    raw, warehouse = root / "raw", root / "jingtu.duckdb"
    generate(raw, progress=lambda _: None)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JINGTU_RAW", str(raw))
        env.setenv("JINGTU_WAREHOUSE", str(warehouse))
        env.setenv("JINGTU_PII_SALT", "e2e-salt")
        env.setenv("JINGTU_REPORTS", str(root / "reports"))
        env.setenv("JINGTU_SERVING", str(root / "serving.duckdb"))
        assert materialize(list(defs.assets), resources=defs.resources,
                           tags={"dagster/asset_partition_range_start": str(YEARS[0]),
                                 "dagster/asset_partition_range_end": str(YEARS[-1])}).success
    with connect(warehouse, read_only=True) as con:
        yield {"con": con, "raw": raw}


def one(full, sql: str, params=None):
    return full["con"].execute(sql, params or {}).fetchone()


def case_events(full, event: str, window: tuple[date, date], where: str = "true") -> int:
    (n,) = one(full, f"""select coalesce(sum(records), 0) from marts.fct_case_events_monthly
                         where event = $event and event_month between $start and $end and ({where})""",
               {"event": event, "start": window[0], "end": window[1]})
    return int(n)


def growth(now: int, before: int, digits: int) -> float:
    return round(100 * (now / before - 1), digits)


@pytest.mark.parametrize("year, share", [(2015, 29.9), (2016, 32.6), (2017, 32.4)])
def test_f1_new_occurrence_share_of_cases_filed(full, year, share):
    whole = (date(year, 1, 1), date(year, 12, 1))
    new = case_events(full, "filed", whole, "is_new_occurrence")
    assert round(100 * new / case_events(full, "filed", whole), 1) == share


def test_f2_f3_cases_filed_in_january_to_july_2018(full):
    filed = case_events(full, "filed", JAN_JUL[2018])
    assert filed == 734
    assert growth(filed, case_events(full, "filed", JAN_JUL[2017]), 0) == 13
    year_2015 = case_events(full, "filed", (date(2015, 1, 1), date(2015, 12, 1)))
    year_2016 = case_events(full, "filed", (date(2016, 1, 1), date(2016, 12, 1)))
    assert filed > year_2015 and 0.95 * year_2016 <= filed < year_2016


@pytest.mark.parametrize("figure, where, expected", [
    ("F4", "is_punished and category = '违反中央八项规定精神'", 95.4),
    ("F5", "outcome = '问责'", 364.7),
    ("F6", "is_punished and category = '扶贫领域腐败和作风问题'", 132.4),
])
def test_f4_f5_f6_year_on_year_growth_of_persons_handled(full, figure, where, expected):
    now, before = (case_events(full, "handled", JAN_JUL[y], where) for y in (2018, 2017))
    assert growth(now, before, 1) == expected, figure


def test_f5_f7_f9_f10_counts_of_january_to_july_2018(full):
    window = JAN_JUL[2018]
    assert case_events(full, "handled", window, "outcome = '问责'") == 79
    assert case_events(full, "filed", window, "is_top_leader") == 47
    assert case_events(full, "handled", window, "is_punished and subject_rank = '县处级'") == 18
    assert case_events(full, "filed", window, "is_detained") == 19
    assert case_events(full, "filed", window, "category = '违反政治纪律'") == 4
    (persons,) = one(full, """select sum(persons) from marts.fct_case_events_monthly where event = 'filed'
                              and event_month between '2018-01-01' and '2018-07-01' and category = '违反政治纪律'""")
    assert persons == 4
    assert case_events(full, "handled", window, "outcome = '了结澄清'") == 35


def test_f8_four_forms_of_supervision(full):
    window = JAN_JUL[2018]
    handled = case_events(full, "handled", window)
    assert handled == 1617
    assert round(100 * case_events(full, "handled", window, "form = 1") / handled, 1) == 63.3
    assert round(100 * case_events(full, "handled", window, "form = 2") / handled, 1) == 31.0


def test_f11_political_checkups_of_2018(full):
    rows = {r[0]: r[1:] for r in full["con"].execute("""
        select unit_type, sum(inspections), sum(problems_found), sum(clues_transferred)
        from marts.fct_inspection_stats where year = 2018 and inspection_type = '政治体检' group by 1
    """).fetchall()}
    assert {k: v[0] for k, v in rows.items()} == {"县(市、区)党委": 2, "市级部门": 5, "基层党组织": 400}
    assert sum(v[1] for v in rows.values()) == 2110 and sum(v[2] for v in rows.values()) == 341


def test_f12_f13_hotline_from_march_to_august_26_2018(full):
    received, closed, rated, satisfied = one(full, """
        select sum(tickets_received), sum(tickets_closed), sum(tickets_rated), sum(tickets_satisfied)
        from marts.fct_hotline_daily where received_on between '2018-03-01' and '2018-08-26'""")
    assert round(received / 10_000, 1) == 25.5
    assert round(100 * closed / received) == 100
    assert round(100 * satisfied / rated, 1) == 95.8


def test_f14_fifty_five_hotlines_merged(full):
    assert one(full, "select count(distinct intake_line) from marts.fct_hotline_intake_lines") == (55,)


def test_f15_jingyan_and_shawan_lead_clean_governance_surveys_in_2017(full):
    top = full["con"].execute("""select county_code from marts.fct_components where year = 2017
        and component = 'survey_clean_governance' order by value desc limit 2""").fetchall()
    assert {c for (c,) in top} == {"511124", "511111"}


def test_every_grade_occurs_and_the_veto_cap_applies(full):
    grades = {g for (g,) in full["con"].execute("select distinct grade from marts.fct_county_evaluation").fetchall()}
    assert grades == {"好", "较好", "一般", "差"}
    capped = full["con"].execute("""select year, county_code, uncapped_grade, grade from marts.fct_county_evaluation
                                    where is_veto_cap_applied""").fetchall()
    assert capped and all(g == "一般" and u in ("好", "较好") for _, _, u, g in capped)
    assert one(full, "select count(*) from marts.fct_county_evaluation where is_veto_triggered") > (len(capped),)


def test_grades_follow_thresholds_cap_and_consequences(full):
    rows = full["con"].execute("""select composite, uncapped_grade, grade, consequence, is_veto_cap_applied
                                  from marts.fct_county_evaluation""").fetchall()
    assert len(rows) == 44
    for composite, uncapped, grade, consequence, capped in rows:
        expected = "好" if composite >= 90 else "较好" if composite >= 80 else "一般" if composite >= 70 else "差"
        assert uncapped == expected
        assert grade == ("一般" if capped else expected)
        assert consequence == {"好": "表扬", "较好": None, "一般": "限期整改", "差": "问责处理"}[grade]


def test_government_conduct_before_the_hotline_has_partial_coverage_not_zeros(full):
    rows = full["con"].execute("""select year, min(coverage), max(coverage), min(value) from marts.fct_indicators
                                  where indicator = 'government_conduct' group by 1 order by 1""").fetchall()
    for year, low, high, value in rows:
        if year < 2018:
            assert low == high == 0.5 and value > 50
        else:
            assert low == high == 1.0
    missing = one(full, """select count(*) from marts.fct_components where year < 2018
                           and component like 'hotline%' and (is_available or value is not null)""")
    assert missing == (0,)


def test_ranks_are_competition_ranks_by_composite(full):
    for year in YEARS:
        rows = full["con"].execute("""select composite, rank from marts.fct_county_evaluation where year = $y
                                      order by composite desc""", {"y": year}).fetchall()
        assert [rank for _, rank in rows] == [1 + sum(c > composite for c, _ in rows) for composite, _ in rows]


def test_an_independent_plain_sql_evaluation_of_2017_agrees_with_the_marts(full):
    script = (Path(__file__).parent / "reference" / "evaluation.sql").read_text()
    script = script.format(raw=full["raw"], year=2017, units=UNITS_CSV)
    with connect(excel=True) as con:
        for statement in script.split(";"):
            if statement.strip():
                con.execute(statement)
        expected = con.execute("select * from evaluation order by county_code").fetchall()
    actual = full["con"].execute("""
        select county_code, development, clean_governance, government_conduct, cadre_selection, public_safety,
               committee_evaluation, composite, grade, rank
        from marts.fct_county_evaluation where year = 2017 order by county_code""").fetchall()
    assert len(actual) == len(expected) == 11
    for mine, theirs in zip(actual, expected):
        assert mine[0] == theirs[0] and mine[8:] == theirs[8:]
        assert mine[1:8] == pytest.approx(theirs[1:8], abs=1e-9)


def test_every_early_warning_signal_fires_on_the_sample(full):
    fired = dict(full["con"].execute("""select signal, count(*) from marts.fct_early_warnings group by 1""").fetchall())
    assert set(fired) == {"conduct_complaint_surge", "hotline_satisfaction_drop", "overdue_rectification",
                          "new_occurrence_rising"}
    severities = {s for (s,) in full["con"].execute("select distinct severity from marts.fct_early_warnings").fetchall()}
    assert severities == {"黄", "橙", "红"}
    months = full["con"].execute("select min(month), max(month), count(distinct month) from marts.fct_monitoring_monthly")
    assert months.fetchone() == (date(2015, 1, 1), date(2018, 12, 1), 48)
