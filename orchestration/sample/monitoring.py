"""Monitoring scenarios, for measuring the early warnings (bench/warnings_bench.py): the hotline and
the discipline cases of every month of every year, with what real monthly data has and the report's
sample does not — negative-binomial monthly counts, a dip around the Spring Festival, differences
between units that persist, month-to-month noise in every rate — and either no signal at all
(`signals="off"`: every alert is a false alarm) or shifts of known size and onset (`"shifts"`).

The draws are made here, per unit-month (a few thousand numbers); the tickets themselves are written
by the hotline generator, inside DuckDB.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.contracts import CASES
from orchestration.lib.duck import connect
from orchestration.sample import hotline, plan
from orchestration.sample.writer import write_export

TICKETS_PER_SIZE = 6000  # a unit's mean tickets a month per unit of plan size (Leshan's: 120 … 1,200)
CASES_PER_SIZE = 60  # its mean cases filed a month, likewise
SEASON = {1: 0.92, 2: 0.75}  # the Spring Festival's dip in tickets (other months 1)
COUNT_SIZE = 30  # negative-binomial size of the monthly conduct-complaint counts: variance μ + μ²/30
CASE_COUNT_SIZE = 10
RATED_SHARE = 0.62
# Planted shifts: conduct complaints × ratio for 3 months in every unit (each unit against its own
# past, so shifts elsewhere do not matter); satisfaction − points for 2 months in a few units at a
# time, since every unit is compared with the city (on real data, drops are rare events).
CONDUCT_SHIFTS = (2.0, 1.5)
CONDUCT_SHIFT_MONTHS = 3
SATISFACTION_SHIFTS = {10.0: 66, 5.0: 40}  # points: units
SATISFACTION_SHIFT_MONTHS = 2


@dataclass(frozen=True)
class Shift:
    signal: str
    county_code: str
    onset: date
    size: float  # a ratio of conduct complaints, or points of satisfaction lost
    months: int


@dataclass(frozen=True)
class Profile:
    """What persists about a unit: its volumes and its levels."""
    tickets: float
    conduct_share: float
    satisfaction: float
    cases: float
    new_share: float


def profiles(units: list[plan.Unit], rng: np.random.Generator) -> dict[str, Profile]:
    return {u.code: Profile(tickets=TICKETS_PER_SIZE * u.size,
                            conduct_share=float(np.exp(rng.normal(np.log(0.04), 0.3))),
                            satisfaction=float(np.clip(rng.normal(0.93, 0.02), 0.80, 0.985)),
                            cases=CASES_PER_SIZE * u.size,
                            new_share=float(np.clip(rng.normal(0.32, 0.05), 0.05, 0.95)))
            for u in units}


def plant_shifts(units: list[plan.Unit], profile: dict[str, Profile], years, rng) -> list[Shift]:
    """Onsets spread evenly over every year but the first (which gives the baselines). Conduct: in
    every unit a shift of each size, 15 months or more apart, so that neither sits in the other's
    baseline. Satisfaction: the larger drop in units with 120 rated tickets a month or more, the
    smaller in others, one drop per unit."""
    first, shifts = years[0], []

    def onset(index: int) -> date:
        return date(first + index // 12, index % 12 + 1, 1)

    last = 12 * len(years) - CONDUCT_SHIFT_MONTHS  # the shift ends by the last month
    for unit in units:
        start = int(rng.integers(12, last + 1))
        apart = [m for m in range(12, last + 1) if abs(m - start) >= 12 + CONDUCT_SHIFT_MONTHS]
        shifts.append(Shift("conduct_complaint_surge", unit.code, onset(start), CONDUCT_SHIFTS[0],
                            CONDUCT_SHIFT_MONTHS))
        if apart:
            shifts.append(Shift("conduct_complaint_surge", unit.code, onset(int(rng.choice(apart))),
                                CONDUCT_SHIFTS[1], CONDUCT_SHIFT_MONTHS))
    order = [units[k].code for k in rng.permutation(len(units))]
    large = [c for c in order if profile[c].tickets * RATED_SHARE >= 120][:SATISFACTION_SHIFTS[10.0]]
    small = [c for c in order if c not in large][:SATISFACTION_SHIFTS[5.0]]
    last = 12 * len(years) - SATISFACTION_SHIFT_MONTHS
    for points, codes in ((10.0, large), (5.0, small)):
        for code in codes:
            shifts.append(Shift("hotline_satisfaction_drop", code, onset(int(rng.integers(12, last + 1))), points,
                                SATISFACTION_SHIFT_MONTHS))
    return shifts


def _shift_of(shifts: dict, signal: str, code: str, year: int, month: int) -> float | None:
    for shift in shifts.get((signal, code), ()):
        index = (year - shift.onset.year) * 12 + month - shift.onset.month
        if 0 <= index < shift.months:
            return shift.size
    return None


def hotline_plan(units, profile, years, shifts: list[Shift], rng) -> dict[int, pa.Table]:
    """Per year, the hotline generator's month plan: tickets, conduct share and satisfaction drawn
    for each unit-month."""
    by_unit = {}
    for shift in shifts:
        by_unit.setdefault((shift.signal, shift.county_code), []).append(shift)
    tables = {}
    for year in years:
        rows = []
        for month in range(1, 13):
            season = SEASON.get(month, 1.0)
            for index, unit in enumerate(units):
                p = profile[unit.code]
                n = int(rng.poisson(p.tickets * season))
                conduct_mean = p.tickets * p.conduct_share * season
                conduct_mean *= _shift_of(by_unit, "conduct_complaint_surge", unit.code, year, month) or 1.0
                conduct = min(n, int(rng.negative_binomial(COUNT_SIZE, COUNT_SIZE / (COUNT_SIZE + conduct_mean))))
                drop = _shift_of(by_unit, "hotline_satisfaction_drop", unit.code, year, month) or 0.0
                level = np.clip(p.satisfaction - drop / 100 + rng.normal(0, 0.008), 0.01, 0.999)
                rated = max(round(n * RATED_SHARE), 1)
                rows.append({"county_code": unit.code, "unit_index": index, "month": month, "n": n,
                             "conduct_share": conduct / max(n, 1),
                             "satisfaction": rng.binomial(rated, level) / rated,
                             "on_time": 0.93, "closed_share": 1.0, "rated_share": RATED_SHARE})
        tables[year] = pa.Table.from_pylist(rows)
    return tables


def cases_query(year: int) -> str:
    """Open filed cases from the plan table `case_plan` (per unit-month: filed, new-occurrence)."""
    return f"""
        with records as (
            select county_code, month, new, unnest(range(filed)) as i from case_plan where year = {year}
        )
        select
            'JK{year}-' || printf('%06d', row_number() over (order by month, county_code, i)) as record_id,
            county_code,
            'SK{year}' || printf('%07d', row_number() over (order by month, county_code, i)) as subject_id,
            '一般干部' as subject_rank, '否' as is_top_leader, '其他违纪' as category,
            make_date({year}, month, 1 + (i * 7) % 28) as filed_on,
            case when i < new then make_date({year}, month, 1 + (i * 7) % 28) - interval 200 day
                 else date '2010-01-01' end::date as last_misconduct_on,
            null as handled_on, null as form, null as outcome, '否' as detained
        from records
    """


def case_plan(units, profile, years, rng) -> pa.Table:
    rows = []
    for year in years:
        for month in range(1, 13):
            for unit in units:
                p = profile[unit.code]
                filed = int(rng.negative_binomial(CASE_COUNT_SIZE, CASE_COUNT_SIZE / (CASE_COUNT_SIZE + p.cases)))
                share = np.clip(p.new_share + rng.normal(0, 0.03), 0.0, 1.0)
                rows.append({"year": year, "month": month, "county_code": unit.code, "filed": filed,
                             "new": int(rng.binomial(filed, share))})
    return pa.Table.from_pylist(rows)


def generate(out: Path, units: list[plan.Unit], years, signals: str, seed: int, progress=print) -> list[Shift]:
    """Write raw/hotline/<year>/ and raw/cases/<year>/ for every month of `years`; return the shifts
    planted (none when `signals` is "off")."""
    rng = np.random.default_rng([seed, 5])
    profile = profiles(units, rng)
    shifts = plant_shifts(units, profile, years, rng) if signals == "shifts" else []
    for year, monthly in hotline_plan(units, profile, years, shifts, rng).items():
        hotline.generate(out, units, year, progress=progress, monthly=monthly)
    con = connect()
    con.register("case_plan", case_plan(units, profile, years, rng))
    for year in years:
        path = out / "cases" / str(year) / f"cases_{year}.csv"
        records = write_export(con, CASES, cases_query(year), path)
        progress(f"cases {year}: {records} records → {path}")
    con.close()
    return shifts
