"""Discipline case records (监督执纪记录), built batch by batch with exact quotas.

Each batch fixes how many records share a filing window, a handling window, outcomes and categories,
so the report's counts (F1–F10) come out exactly however the records spread over the units.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.contracts import CASES, MUNICIPAL_CODE
from orchestration.lib.duck import connect
from orchestration.sample import plan
from orchestration.sample.writer import write_export

CUTOFF = date(2012, 11, 8)  # the 18th Party Congress: misconduct on or after it is new-occurrence
FORM_LABELS = {1: "第一种形态", 2: "第二种形态", 3: "第三种形态", 4: "第四种形态"}
EIGHT_RULES, POVERTY, POLITICAL, DUTY, OTHER = (
    "违反中央八项规定精神", "扶贫领域腐败和作风问题", "违反政治纪律", "两个责任落实不力", "其他违纪")
GENERIC_CATEGORIES = {EIGHT_RULES: 25, POVERTY: 18, DUTY: 15, OTHER: 42}
FILED_OUTCOMES = [(2, "党纪处分", 50), (2, "政务处分", 12), (2, "问责", 8), (2, "组织处理", 6),
                  (3, "党纪处分", 9), (3, "政务处分", 3), (4, "移送司法", 6), (1, "批评教育", 6)]
UNFILED_OUTCOMES = [(1, "谈话函询", 68), (1, "批评教育", 28), (1, "了结澄清", 4)]
MUNICIPAL_WEIGHT = 0.12


def punished(n: int, form3: int) -> list[tuple[int, str, int]]:
    """`n` persons punished (党纪处分 / 政务处分, three to one), `form3` of them in the third form."""
    form2 = n - form3
    return [(2, "党纪处分", form2 - form2 // 4), (2, "政务处分", form2 // 4),
            (3, "党纪处分", form3 - form3 // 4), (3, "政务处分", form3 // 4)]


@dataclass
class Batch:
    count: int
    filed: tuple[date, date] | None  # None: handled without formal filing
    handled: tuple[date, date] | None  # None: still open
    outcomes: list[tuple[int, str, int]] | None = None  # (form, outcome, weight or exact count)
    categories: dict[str, int] | None = None  # exact counts, or weights when None → generic
    county_rank: int = 0  # records of rank 县处级
    top_leaders: int = 0
    detained: int = 0
    planted: list[dict] = field(default_factory=list)  # fully specified extra records


def _window(year: int, part: str) -> tuple[date, date]:
    return {"jan-jul": (date(year, 1, 1), date(year, 7, 31)), "aug-dec": (date(year, 8, 1), date(year, 12, 31)),
            "year": (date(year, 1, 1), date(year, 12, 31))}[part]


def batches(year: int) -> list[Batch]:
    """The records of folder `year` (the year of filing, or of handling when not filed)."""
    w, late, whole = _window(year, "jan-jul"), _window(year, "aug-dec"), _window(year, "year")
    if year in (2015, 2016):
        return [Batch(plan.FILED[year], whole, whole, county_rank=12, top_leaders=20, detained=8),
                Batch({2015: 1300, 2016: 1500}[year], None, whole, UNFILED_OUTCOMES)]
    if year == 2017:
        veto = {"county_code": "511181", "subject_rank": "县处级", "is_top_leader": "是", "detained": "是",
                "category": OTHER, "filed_on": date(2017, 9, 12), "handled_on": date(2017, 11, 20),
                "form": 4, "outcome": "移送司法"}
        return [
            Batch(65, w, w, punished(65, 8), {EIGHT_RULES: 65}),
            Batch(37, w, w, punished(37, 5), {POVERTY: 37}),
            Batch(17, w, w, [(2, "问责", 17)], {DUTY: 17}),
            Batch(281, w, w, punished(281, 35), {DUTY: 90, OTHER: 191}, county_rank=10, top_leaders=12,
                  detained=6),
            Batch(40, w, w, [(2, "组织处理", 40)], {OTHER: 40}),
            Batch(20, w, w, [(4, "移送司法", 20)], {OTHER: 20}, detained=10),
            Batch(40, w, w, [(1, "批评教育", 40)], {OTHER: 40}),
            Batch(150, w, late, top_leaders=6),
            Batch(900, None, w, UNFILED_OUTCOMES),
            Batch(429, late, late, top_leaders=8, detained=5, planted=[veto]),
            Batch(40, late, _window(2018, "jan-jul"), punished(40, 5), {OTHER: 40}),  # handled in 2018
            Batch(600, None, late, UNFILED_OUTCOMES),
        ]
    # 2018: the report's window is January to July (F2–F10).
    veto = {"county_code": "511133", "subject_rank": "县处级", "is_top_leader": "是", "detained": "是",
            "category": OTHER, "filed_on": date(2018, 5, 10)}
    return [
        Batch(127, w, w, punished(127, 17), {EIGHT_RULES: 127}, county_rank=6, top_leaders=8),
        Batch(86, w, w, punished(86, 12), {POVERTY: 86}, county_rank=4, top_leaders=6),
        Batch(4, w, w, punished(4, 1), {POLITICAL: 4}),
        Batch(195, w, w, punished(195, 25), {DUTY: 60, OTHER: 135}, county_rank=8, top_leaders=10, detained=3),
        Batch(79, w, w, [(2, "问责", 79)], {DUTY: 79}, top_leaders=10),
        Batch(30, w, w, [(2, "组织处理", 30)], {OTHER: 30}),
        Batch(32, w, w, [(4, "移送司法", 32)], {OTHER: 20, POVERTY: 12}, top_leaders=3, detained=12),
        Batch(7, w, w, [(1, "批评教育", 7)], {OTHER: 7}),
        Batch(150, w, late, top_leaders=7),
        Batch(23, w, None, top_leaders=2, detained=3, planted=[veto]),
        Batch(1017, None, w, [(1, "谈话函询", 700), (1, "批评教育", 282), (1, "了结澄清", 35)]),
        Batch(300, late, late, county_rank=6, top_leaders=6, detained=4),
        Batch(220, late, None, top_leaders=4, detained=4),
        Batch(700, None, late, UNFILED_OUTCOMES),
    ]


def _exact(spec, total: int) -> list:
    """Expand (value, weight) pairs into exactly `total` values; exact counts stay exact."""
    values = [v for v, _ in spec]
    counts = plan.largest_remainder([c for _, c in spec], total)
    return [v for v, c in zip(values, counts) for _ in range(c)]


def _shuffled(rng: np.random.Generator, values: list) -> list:
    return [values[k] for k in rng.permutation(len(values))]


def _days(rng, window: tuple[date, date], n: int) -> np.ndarray:
    span = (window[1] - window[0]).days
    return np.array([window[0] + timedelta(days=int(d)) for d in rng.integers(0, span + 1, n)])


def _expand(batch: Batch, rng: np.random.Generator, units: list[plan.Unit]) -> list[dict]:
    n = batch.count
    outcomes = batch.outcomes or (FILED_OUTCOMES if batch.filed else UNFILED_OUTCOMES)
    forms = _shuffled(rng, _exact([((f, o), c) for f, o, c in outcomes], n)) if batch.handled else [None] * n
    categories = _shuffled(rng, _exact(list((batch.categories or GENERIC_CATEGORIES).items()), n))
    counties = _shuffled(rng, _exact([(u.code, u.size) for u in units] + [(MUNICIPAL_CODE, MUNICIPAL_WEIGHT)], n))
    # Disjoint quotas: no generated record is a detained county-rank top leader (that is the veto).
    roles = (["rank"] * batch.county_rank + ["top"] * batch.top_leaders + ["detained"] * batch.detained)
    roles = _shuffled(rng, roles + [""] * (n - len(roles)))
    filed = _days(rng, batch.filed, n) if batch.filed else [None] * n
    handled = _days(rng, batch.handled, n) if batch.handled else [None] * n
    records = []
    for k in range(n):
        f, h = filed[k], handled[k]
        if f is not None and h is not None and h < f:  # same window: the earlier day is the filing
            f, h = h, f
        form, outcome = forms[k] or (None, None)
        role = roles[k]
        records.append({
            "county_code": counties[k], "category": categories[k],
            "subject_rank": "县处级" if role == "rank" else ("乡科级" if role == "top" or k % 2 else "一般干部"),
            "is_top_leader": "是" if role == "top" else "否", "detained": "是" if role == "detained" else "否",
            "filed_on": f, "handled_on": h, "form": form, "outcome": outcome,
        })
    return records + [{"handled_on": None, "form": None, "outcome": None, **p} for p in batch.planted]


def _misconduct_dates(records: list[dict], year: int, rng: np.random.Generator) -> None:
    """Mark the planned number of filed cases as new-occurrence, unit by unit (F1)."""
    filed = [r for r in records if r["filed_on"] is not None]
    by_unit: dict[str, list[dict]] = {}
    for r in filed:
        by_unit.setdefault(r["county_code"], []).append(r)
    codes = sorted(by_unit)
    wanted = [len(by_unit[c]) * (plan.new_share(c, year) if c != MUNICIPAL_CODE else 0.3) for c in codes]
    quotas = plan.largest_remainder(wanted, plan.NEW_OCCURRENCE[year])
    for code, quota in zip(codes, quotas):
        group = by_unit[code]
        new = set(rng.permutation(len(group))[: min(quota, len(group))].tolist())
        for k, r in enumerate(group):
            if k in new:
                span = max((r["filed_on"] - timedelta(days=20) - CUTOFF).days, 0)
                r["last_misconduct_on"] = CUTOFF + timedelta(days=int(rng.integers(0, span + 1)))
            else:
                r["last_misconduct_on"] = date(2008, 1, 1) + timedelta(days=int(rng.integers(0, 1772)))
    for r in records:
        if r["filed_on"] is None:
            r["last_misconduct_on"] = r["handled_on"] - timedelta(days=int(rng.integers(15, 500)))


def _table(records: list[dict], year: int, first_subject: int) -> pa.Table:
    records.sort(key=lambda r: (r["filed_on"] or r["handled_on"], r["county_code"]))
    for k, r in enumerate(records):
        r["record_id"] = f"JJ{year}-{k + 1:05d}"
        r["subject_id"] = f"SUB{first_subject + k:07d}"
        r["form"] = FORM_LABELS.get(r["form"])
    columns = [c.name for c in CASES.columns]
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records])


def _bad_rows(year: int) -> list[dict]:
    good = {"subject_id": "SUB9999999", "subject_rank": "一般干部", "is_top_leader": "否", "category": OTHER,
            "last_misconduct_on": f"{year - 1}-06-01", "filed_on": f"{year}-03-01", "handled_on": f"{year}-04-01",
            "form": "第二种形态", "outcome": "党纪处分", "detained": "否", "county_code": "511102"}
    return [
        {**good, "record_id": f"BAD{year}-1", "county_code": "511199"},
        {**good, "record_id": f"BAD{year}-2", "filed_on": f"{year}-02-30"},
        {**good, "record_id": f"JJ{year}-00001"},  # duplicate of the year's first record
        {**good, "record_id": f"BAD{year}-3", "handled_on": ""},  # form and outcome on an open case
    ]


def generate(out: Path, units: list[plan.Unit], years, seed: int, progress=print) -> None:
    """Write raw/cases/<year>/cases_<year>.csv for each year."""
    con = connect()
    first_subject = 1
    for year in years:
        rng = np.random.default_rng([seed, year, 2])
        records = [r for b in batches(year) for r in _expand(b, rng, units)]
        _misconduct_dates(records, year, rng)
        con.register("cases_rows", _table(records, year, first_subject))
        first_subject += len(records)
        path = out / "cases" / str(year) / f"cases_{year}.csv"
        written = write_export(con, CASES, "select * from cases_rows", path,
                               "gb18030" if year == 2016 else "utf-8-sig", _bad_rows(year))
        progress(f"cases {year}: {written} records → {path}")
    con.close()
