"""Grade confidence (methodology §7.1): the checks the Monte Carlo must pass, on the small sample with
a few units planted near the thresholds."""

import json
import math
import shutil

import duckdb
import pytest

from orchestration.dbt import DBT_PROJECT_DIR, dbt_project
from orchestration.lib.duck import connect
from tests.conftest import query, run_dbt

THRESHOLDS = {"好": (90, math.inf), "较好": (80, 90), "一般": (70, 80), "差": (-math.inf, 70)}
PROBABILITY = {"好": "p_good", "较好": "p_fairly_good", "一般": "p_average", "差": "p_poor"}
# Units whose every component is set to a value: every indicator, and so the composite, equals it
# whatever the weights. 511181 in 2017 had a county-rank top leader detained: capped at 一般.
PLANTED = {("511102", 2018): 80.0, ("511111", 2018): 80.6, ("511112", 2018): 89.6, ("511181", 2017): 95.0}


def confidence(warehouse, **settings) -> dict:
    """Build fct_grade_confidence with `settings` (dbt vars): {(county, year): row}."""
    run_dbt(warehouse, "run", "-s", "fct_grade_confidence", "--vars", json.dumps(settings))
    rows = query(warehouse, "select * from marts.fct_grade_confidence")
    names = [r[0] for r in query(warehouse, "select column_name from information_schema.columns where "
                                            "table_name = 'fct_grade_confidence' order by ordinal_position")]
    return {(r[1], r[0]): dict(zip(names, r, strict=True)) for r in rows}


@pytest.fixture(scope="module")
def planted(built_warehouse, tmp_path_factory):
    path = tmp_path_factory.mktemp("confidence") / built_warehouse.name  # dbt names the catalog after the file
    shutil.copyfile(built_warehouse, path)
    with connect(path) as con:
        for (county, year), value in PLANTED.items():
            # a binomial component's error follows its value, as fct_components has it
            con.execute("""
                update marts.fct_components as c set value = $v, standard_error = case m.sampling_error
                    when 'binomial' then 100 * sqrt(($v / 100) * (1 - $v / 100) / c.denominator)
                    else c.standard_error end
                from config.methodology_components as m
                where m.methodology_version = c.methodology_version and m.component = c.component
                    and c.county_code = $c and c.year = $y and c.is_available""",
                        {"v": value, "c": county, "y": year})
    return path


def normal_approximation(warehouse, county: str, year: int) -> dict:
    """P(grade) for composite ~ N(c, σ²), σ² = Σ_k w_k² Σ_j v_kj² SE_j² (§7.1), worked out here from
    the components, independently of the model."""
    rows = query(warehouse, """
        select c.indicator, i.indicator_weight, c.component_weight, c.value, c.standard_error, c.denominator,
               m.sampling_error
        from marts.fct_components c
        join marts.fct_indicators i using (year, county_code, indicator)
        join config.methodology_components m on m.methodology_version = c.methodology_version and m.component = c.component
        where c.county_code = $c and c.year = $y and c.is_available""", {"c": county, "y": year})
    by_indicator = {}
    for indicator, w, v, value, se, n, kind in rows:
        by_indicator.setdefault(indicator, [w, []])[1].append((v, value, se, n, kind))
    composite = variance = 0.0
    for w, components in by_indicator.values():
        total = sum(v for v, *_ in components)
        composite += w * sum(v * value for v, value, *_ in components) / total
        for v, value, se, n, kind in components:
            if kind == "binomial":
                p = value / 100
                se = 100 * math.sqrt(p * (1 - p) / n)
            elif kind == "none":
                se = 0
            variance += (w * v / total) ** 2 * se ** 2
    sigma = math.sqrt(variance)
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))
    return {grade: phi((high - composite) / sigma) - phi((low - composite) / sigma)
            for grade, (low, high) in THRESHOLDS.items()}


def test_without_weight_noise_the_draws_agree_with_the_normal_approximation(planted):
    rows = confidence(planted, confidence_weight_alpha=0)
    triggered = {(c, y) for c, y in query(planted, "select county_code, year from marts.fct_county_evaluation"
                                                   " where is_veto_triggered")}
    checked = 0
    for key, row in rows.items():
        if key in triggered:
            continue
        expected = normal_approximation(planted, *key)
        for grade, column in PROBABILITY.items():
            assert abs(row[column] - expected[grade]) <= 0.04, (key, grade, row[column], expected[grade])
        checked += 1
    assert checked >= 30
    near = normal_approximation(planted, "511111", 2018)["较好"]
    assert 0.6 < near < 0.95  # a planted unit the comparison is not trivial for


def test_with_no_sampling_error_and_fixed_weights_the_probabilities_are_the_published_grades(built_warehouse,
                                                                                              tmp_path):
    path = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, path)
    rows = confidence(path, confidence_weight_alpha=0, confidence_sampling_error=False)
    grades = {(c, y): g for c, y, g in query(path, "select county_code, year, grade from "
                                                   "marts.fct_county_evaluation where is_graded")}
    assert rows.keys() == grades.keys()
    for key, row in rows.items():
        assert {grade: row[column] for grade, column in PROBABILITY.items()} == {
            grade: float(grade == grades[key]) for grade in PROBABILITY}


def test_a_unit_on_a_threshold_is_a_coin_toss_and_one_far_from_every_threshold_keeps_its_grade(planted):
    rows = confidence(planted)
    on_threshold = rows[("511102", 2018)]
    assert 0.45 <= on_threshold["p_fairly_good"] <= 0.55 and on_threshold["is_near_boundary"] is not None
    assert abs(on_threshold["p_fairly_good"] + on_threshold["p_average"] - 1) < 1e-9
    (far,) = [row for row in rows.values() if row["county_code"] == "511111" and row["year"] == 2016]
    assert far["composite"] > 93 and far["p_good"] > 0.99 and not far["is_near_boundary"]


def test_the_veto_cap_holds_in_every_draw(planted):
    capped = confidence(planted)[("511181", 2017)]
    assert (capped["p_good"], capped["p_fairly_good"], capped["p_average"]) == (0.0, 0.0, 1.0)


def test_the_same_seed_gives_the_same_draws_whatever_the_threads(planted, tmp_path):
    rows = confidence(planted)
    target = DBT_PROJECT_DIR / dbt_project.target_path  # this worker's, under pytest-xdist
    # the model's statement, of its first year; the post-hook runs the same for each other year
    compiled = next((target / "compiled").rglob("fct_grade_confidence.sql")).read_text()
    years = sorted({r["year"] for r in rows.values()})
    assert compiled.count(f"year = {years[0]}") == 2  # the evaluation's and the components' filters
    with connect(planted) as con:
        con.execute("set threads = 1")
        single = sorted(row for year in years for row in con.execute(
            f"select county_code, year, p_good, p_fairly_good, composite_p05, rank_p95"
            f" from ({compiled.replace(f'year = {years[0]}', f'year = {year}')})").fetchall())
    assert single == sorted((r["county_code"], r["year"], r["p_good"], r["p_fairly_good"], r["composite_p05"],
                             r["rank_p95"]) for r in rows.values())
    assert duckdb.__version__  # the hash behind the draws is DuckDB's: a new DuckDB may draw anew
