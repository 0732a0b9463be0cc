"""Satisfaction surveys (满意度测评) and development assessments (经济社会发展考评).

Each unit-year's survey answers are drawn so that its composite lands on the planned level, given
what the other sources contribute to the same indicators.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration import methodology
from orchestration.contracts import DEVELOPMENT, SURVEYS
from orchestration.lib.duck import connect
from orchestration.sample import plan
from orchestration.sample.writer import write_export

# survey type → (respondents, answers from best to worst, responses per unit-year, weighted?)
SURVEY_DESIGN = {
    "党风廉政建设满意度": ("群众", ("满意", "比较满意", "一般", "不满意"), 150, True),
    "政风满意度": ("群众", ("满意", "比较满意", "一般", "不满意"), 150, True),
    "选人用人评议": ("党员干部", ("好", "较好", "一般", "差"), 80, False),
    "平安建设群众满意度": ("群众", ("满意", "比较满意", "一般", "不满意"), 150, True),
    "市委委员综合评价": ("市委委员", ("好", "较好", "一般", "差"), 40, False),
}
WEIGHTS = np.array([0.6, 0.8, 1.0, 1.2, 1.5, 1.8])  # post-stratification weights of public surveys


def answer_shares(score: float) -> np.ndarray:
    """Shares of the four answers (100 / 80 / 60 / 0 points) whose mean is `score`."""
    worst = 0.1 * (1 - score / 100)
    rest = min(max(score / (1 - worst), 60.0), 100.0)  # mean over the three better answers
    if rest >= 80:
        t = (rest - 80) / 20
        better = t * np.array([1, 0, 0]) + (1 - t) * np.array([0.2, 0.6, 0.2])
    else:
        t = (rest - 60) / 20
        better = t * np.array([0.2, 0.6, 0.2]) + (1 - t) * np.array([0, 0, 1])
    return np.append(better * (1 - worst), worst)


def survey_target(level: float, indicator: str, others: dict[str, float | None]) -> float:
    """The survey score that brings `indicator` to `level`, given its other components' values (None
    when missing: the weights are renormalised over those available, as the marts do)."""
    weights = methodology.component_weights(indicator)
    (survey,) = (c for c in weights if c not in others)
    available = {c: v for c, v in others.items() if v is not None}
    total = weights[survey] + sum(weights[c] for c in available)
    return (level * total - sum(weights[c] * v for c, v in available.items())) / weights[survey]


def target_scores(code: str, year: int, rectification: float | None, rng: np.random.Generator) -> dict:
    """The survey score per type that brings the unit-year's indicators to its planned level."""
    level = plan.level(code, year)
    clean = survey_target(level, "clean_governance", {
        "discipline_new_occurrence": 100 * (1 - plan.new_share(code, year)),
        "inspection_rectification": rectification})
    hotline = year >= plan.HOTLINE_OPENED[0]
    conduct = survey_target(level, "government_conduct", {
        "hotline_satisfaction": 100 * plan.hotline_satisfaction(code, year) if hotline else None,
        "hotline_on_time": 100 * plan.hotline_on_time(code, year) if hotline else None})
    targets = {"党风廉政建设满意度": clean, "政风满意度": conduct}
    for kind in ("选人用人评议", "平安建设群众满意度", "市委委员综合评价"):
        targets[kind] = level + float(rng.uniform(-2, 2))
    return {k: min(max(v, 56.0), 99.0) for k, v in targets.items()}


def survey_rows(year: int, units: list[plan.Unit], rectification: dict[str, float], seed: int) -> pa.Table:
    """The year's responses, drawn per unit and survey type as whole arrays (a national sample has
    millions), shuffled, then numbered in their order. Each text column is drawn as positions in its
    list of values and made text once, at the end (an Arrow dictionary decoded)."""
    rng = np.random.default_rng([seed, year, 4])
    values = {"survey_type": list(SURVEY_DESIGN), "county_code": [unit.code for unit in units],
              "respondent_type": sorted({design[0] for design in SURVEY_DESIGN.values()}),
              "answer": sorted({answer for design in SURVEY_DESIGN.values() for answer in design[1]} | {"不了解"})}
    drawn: dict[str, list[np.ndarray]] = {name: [] for name in [*values, "weight"]}
    for u, unit in enumerate(units):
        for kind, score in target_scores(unit.code, year, rectification.get(unit.code), rng).items():
            respondents, answers, n, weighted = SURVEY_DESIGN[kind]
            unknown = round(0.04 * n) if weighted else 0  # 不了解: excluded from the score
            counts = plan.largest_remainder(answer_shares(score), n - unknown)
            given = np.repeat([values["answer"].index(a) for a in (*answers, "不了解")], [*counts, unknown])
            # the weights drawn before the answers' order: the same seed writes the same bytes
            drawn["weight"].append(rng.choice(WEIGHTS, n) if weighted else np.full(n, np.nan))
            drawn["answer"].append(rng.permutation(given))
            drawn["survey_type"].append(np.full(n, values["survey_type"].index(kind)))
            drawn["county_code"].append(np.full(n, u))
            drawn["respondent_type"].append(np.full(n, values["respondent_type"].index(respondents)))
    order = rng.permutation(sum(len(part) for part in drawn["answer"]))
    columns = {"survey_year": pa.array(np.full(len(order), year))}
    for name, texts in values.items():
        positions = pa.array(np.concatenate(drawn[name])[order])
        columns[name] = pa.DictionaryArray.from_arrays(positions, pa.array(texts)).dictionary_decode()
    columns["weight"] = pa.array(np.concatenate(drawn["weight"])[order], from_pandas=True)  # NaN: none
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, len(order) + 1)), pa.string()), 6, "0")
    columns["response_id"] = pc.binary_join_element_wise(f"SV{year}-", numbers, "")
    return pa.table(columns)


def _bad_survey_rows(year: int) -> list[dict]:
    good = {"survey_year": year, "survey_type": "政风满意度", "county_code": "511102", "respondent_type": "群众",
            "answer": "满意", "weight": "1.0"}
    return [{**good, "response_id": f"BAD{year}-1", "weight": "0"},
            {**good, "response_id": f"BAD{year}-2", "answer": "非常满意"},
            {**good, "response_id": f"BAD{year}-3", "county_code": "519999"},
            {**good, "response_id": f"SV{year}-000001"},  # duplicate of the year's first response
            {**good, "response_id": f"BAD{year}-4", "survey_year": year - 1}]


def development_rows(year: int, units: list[plan.Unit], seed: int) -> list[dict]:
    rng = np.random.default_rng([seed, year, 5])
    return [{"year": year, "county_code": u.code,
             "score": round(plan.level(u.code, year) + float(rng.uniform(-1.5, 1.5)), 1)} for u in units]


def _bad_development_rows(year: int) -> list[dict]:
    return [{"year": year, "county_code": "511102", "score": 105.0},
            {"year": year, "county_code": "519999", "score": 80.0},
            {"year": year, "county_code": "511111", "score": 70.0}]  # duplicate unit-year


def generate(out: Path, units: list[plan.Unit], years, rectification: dict, seed: int, progress=print) -> None:
    """Write raw/surveys/<year>/ and raw/development/<year>/ (.xlsx in 2015 and 2017)."""
    con = connect(excel=True)
    for year in years:
        con.register("survey_rows", survey_rows(year, units, rectification.get(year, {}), seed))
        path = out / "surveys" / str(year) / f"cepings_{year}.csv"
        written = write_export(con, SURVEYS, "select * from survey_rows", path, "utf-8-sig", _bad_survey_rows(year))
        progress(f"surveys {year}: {written} responses → {path}")
        as_excel = year in (2015, 2017)
        con.register("development_rows", pa.Table.from_pylist(development_rows(year, units, seed)))
        path = out / "development" / str(year) / f"kaoping_{year}.{'xlsx' if as_excel else 'csv'}"
        written = write_export(con, DEVELOPMENT, "select * from development_rows", path,
                               "xlsx" if as_excel else "utf-8-sig", _bad_development_rows(year))
        progress(f"development {year}: {written} units → {path}")
    con.close()
