"""Inspection findings (巡察 / 政治体检): routine and special inspections of every unit each year, and
the 2018 political check-ups whose totals the report gives (F11)."""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from orchestration.contracts import INSPECTIONS, MUNICIPAL_CODE
from orchestration.lib.duck import connect
from orchestration.sample import plan
from orchestration.sample.writer import write_export

ROUNDS = {1: (3, "一"), 2: (6, "二"), 3: (9, "三")}  # round → (starting month, numeral)
DEPARTMENTS = ("教育局", "卫健局", "住建局", "农业农村局", "交通运输局", "民政局", "自然资源局")
CITY_DEPARTMENTS = ("市发改委", "市财政局", "市住建局", "市交通局", "市国资委", "市水务局", "市林业局")


def _dates(rng: np.random.Generator, year: int, round_no: int, due_days: int) -> dict:
    started = date(year, ROUNDS[round_no][0], 1) + timedelta(days=int(rng.integers(0, 21)))
    ended = started + timedelta(days=int(rng.integers(30, 51)))
    return {"round": f"{year}年第{ROUNDS[round_no][1]}轮", "started_on": started, "ended_on": ended,
            "rectification_due_on": ended + timedelta(days=due_days)}


def _routine(rng: np.random.Generator, year: int, units: list[plan.Unit], due_days: int) -> list[dict]:
    rows = []
    for unit in units:
        for k in range(7):
            kind, unit_type = ("专项巡察", "县级部门") if k == 6 else ("常规巡察", "县级部门" if k < 4 else "基层党组织")
            name = DEPARTMENTS[k] if unit_type == "县级部门" else f"第{k - 3}党总支"
            found = int(rng.integers(3, 11) if kind == "专项巡察" else rng.integers(6, 21))
            rows.append({"inspection_type": kind, "county_code": unit.code, "unit_name": unit.name + name,
                         "unit_type": unit_type, "problems_found": found, "clues_transferred": found // 6,
                         **_dates(rng, year, 1 + k % 3, due_days)})
    for k, name in enumerate(CITY_DEPARTMENTS[:6]):
        found = int(rng.integers(6, 21))
        rows.append({"inspection_type": "常规巡察", "county_code": MUNICIPAL_CODE, "unit_name": name,
                     "unit_type": "市级部门", "problems_found": found, "clues_transferred": found // 6,
                     **_dates(rng, year, 1 + k % 3, due_days)})
    return rows


def _political_checkups(rng: np.random.Generator, units: list[plan.Unit]) -> list[dict]:
    """2018's 政治体检: 2 county committees, 5 city departments, 400 grassroots organisations (F11)."""
    spec = plan.POLITICAL_CHECKUP_2018
    names = {u.code: u.name for u in units}
    targets = ([(c, names[c] + "委", "县(市、区)党委", 40.0) for c in spec["county_committees"]]
               + [(MUNICIPAL_CODE, d, "市级部门", 30.0) for d in CITY_DEPARTMENTS[:spec["municipal_departments"]]])
    grassroots = plan.largest_remainder([u.size for u in units], spec["grassroots"])
    targets += [(u.code, f"{u.name}基层党组织{k + 1:03d}", "基层党组织", float(rng.integers(2, 9)))
                for u, n in zip(units, grassroots) for k in range(n)]
    found = plan.largest_remainder([t[3] for t in targets], spec["problems_found"])
    clues = plan.largest_remainder(found, spec["clues_transferred"])
    return [{"inspection_type": "政治体检", "county_code": code, "unit_name": name, "unit_type": unit_type,
             "problems_found": int(f), "clues_transferred": int(c), **_dates(rng, 2018, 1 + k % 3, 180)}
            for k, ((code, name, unit_type, _), f, c) in enumerate(zip(targets, found, clues))]


def _rectify(rows: list[dict], year: int, gaps: dict) -> None:
    """Older findings are rectified in full except the planned gaps; 2018's are rectified when due."""
    for r in rows:
        due_in_time = r["rectification_due_on"] <= date(2018, 12, 31)
        r["problems_rectified"] = r["problems_found"] if due_in_time else (r["problems_found"] * 7) // 10
    for (gap_year, code), gap in gaps.items():
        if gap_year == year:
            for r in (r for r in rows if r["county_code"] == code):
                taken = min(gap, r["problems_rectified"])
                r["problems_rectified"] -= taken
                gap -= taken


def rows_for_year(year: int, units: list[plan.Unit], seed: int, gaps=plan.RECTIFICATION_GAPS) -> list[dict]:
    rng = np.random.default_rng([seed, year, 3])
    rows = _routine(rng, year, units, 180 if year == 2018 else 90)
    if year == 2018:
        rows += _political_checkups(rng, units)
    _rectify(rows, year, gaps)
    rows.sort(key=lambda r: (r["ended_on"], r["county_code"]))
    for k, r in enumerate(rows):
        r["inspection_id"] = f"XC{year}-{k + 1:04d}"
    return rows


def rectification_rate(rows: list[dict]) -> dict[str, float]:
    """Σ rectified / Σ found per unit, as the warehouse will compute it (in %)."""
    found: dict[str, int] = {}
    done: dict[str, int] = {}
    for r in rows:
        found[r["county_code"]] = found.get(r["county_code"], 0) + r["problems_found"]
        done[r["county_code"]] = done.get(r["county_code"], 0) + r["problems_rectified"]
    return {c: 100.0 * done[c] / found[c] for c in found if found[c]}


def _bad_rows(year: int, as_excel: bool) -> list[dict]:
    good = {"round": f"{year}年第一轮", "inspection_type": "常规巡察", "county_code": "511102",
            "unit_name": "市中区测试单位", "unit_type": "县级部门", "started_on": f"{year}-04-01",
            "ended_on": f"{year}-05-10", "problems_found": 10, "clues_transferred": 1, "problems_rectified": 10,
            "rectification_due_on": f"{year}-08-10"}
    rows = [{**good, "inspection_id": f"BAD{year}-1", "problems_rectified": 12},
            {**good, "inspection_id": f"BAD{year}-2", "county_code": "519999"},
            {**good, "inspection_id": f"XC{year}-0001"},  # duplicate of the year's first inspection
            {**good, "inspection_id": f"BAD{year}-3", "ended_on": f"{year}-03-20"}]
    if not as_excel:  # a text date cannot stand in an Excel date column
        rows.append({**good, "inspection_id": f"BAD{year}-4", "ended_on": f"{year}年5月10日"})
    return rows


def generate(out: Path, units: list[plan.Unit], years, seed: int, progress=print,
             gaps=plan.RECTIFICATION_GAPS) -> dict:
    """Write raw/inspections/<year>/ (.xlsx in 2016 and 2018); return rectification rates per unit-year.
    `gaps`: the rectification left undone past its due date (the overdue-rectification alerts)."""
    con = connect(excel=True)
    rates = {}
    for year in years:
        rows = rows_for_year(year, units, seed, gaps)
        rates[year] = rectification_rate([r for r in rows if r["county_code"] != MUNICIPAL_CODE])
        as_excel = year in (2016, 2018)
        con.register("inspection_rows", pa.Table.from_pylist(rows))
        path = out / "inspections" / str(year) / f"xuncha_{year}.{'xlsx' if as_excel else 'csv'}"
        written = write_export(con, INSPECTIONS, "select * from inspection_rows", path,
                               "xlsx" if as_excel else "utf-8-sig", _bad_rows(year, as_excel))
        progress(f"inspections {year}: {written} rows → {path}")
    con.close()
    return rates
