"""The calibration plan of the sample data: who should grade what, and the report's figures.

The generator derives every source from this plan so that the warehouse, computing through the
whole pipeline, reproduces ../shared/spec/seed-figures.md and shows every grade, the veto cap and
every early-warning signal. Tests never read these numbers: they read the warehouse.
"""

from dataclasses import dataclass

import numpy as np

YEARS = (2015, 2016, 2017, 2018)
HOTLINE_OPENED = (2018, 3)  # the 12345 line opened in March 2018

# code, name, relative size (population share; drives volumes)
UNITS = (
    ("511102", "市中区", 0.20), ("511111", "沙湾区", 0.06), ("511112", "五通桥区", 0.07),
    ("511113", "金口河区", 0.02), ("511123", "犍为县", 0.13), ("511124", "井研县", 0.09),
    ("511126", "夹江县", 0.10), ("511129", "沐川县", 0.06), ("511132", "峨边彝族自治县", 0.04),
    ("511133", "马边彝族自治县", 0.05), ("511181", "峨眉山市", 0.12),
)

# The composite each unit-year is steered to: 94 → 好, 85 → 较好, 75 → 一般, 63 → 差.
# Levels sit well inside their grade bands so that sampling noise cannot move a grade.
LEVELS = {
    "511102": (85, 85, 85, 94), "511111": (85, 94, 94, 94), "511112": (75, 75, 85, 85),
    "511113": (63, 75, 75, 85), "511123": (75, 85, 85, 85), "511124": (85, 94, 94, 94),
    "511126": (75, 75, 85, 85), "511129": (75, 75, 75, 85), "511132": (63, 63, 75, 75),
    "511133": (63, 75, 75, 75), "511181": (85, 85, 85, 85),
}

# Veto cap (一票否决): a county-rank top leader detained in the year. 峨眉山市 2017 would grade 较好
# and is capped to 一般; 马边 2018 is already 一般, the trigger is recorded all the same.
VETO = {(2017, "511181"), (2018, "511133")}

# Share of new-occurrence cases (新发性违纪) among a unit's filed cases, by level.
NEW_SHARE_BY_LEVEL = {94: 0.18, 85: 0.28, 75: 0.36, 63: 0.42}
NEW_SHARE_OVERRIDES = {(2018, "511133"): 0.60}  # rising: fires the early warning

# Figures F1: new-occurrence cases among cases filed (city-wide), per year.
FILED = {2015: 680, 2016: 760, 2017: 1120, 2018: 1254}
NEW_OCCURRENCE = {2015: 203, 2016: 248, 2017: 363, 2018: 414}

# Hotline: tickets per month of 2018 (before the 1× scale). August is sized so that the tickets
# received 2018-03-01 … 2018-08-26 make 25.5 万 (F12).
HOTLINE_MONTHLY = {3: 40000, 4: 43000, 5: 45000, 6: 44000, 7: 46000, 8: 44115,
                   9: 43000, 10: 42000, 11: 41000, 12: 40000}
HOTLINE_SATISFACTION = 0.958  # (满意 + 基本满意) / rated, 2018-03-01 … 2018-08-26 (F13)
F12_WINDOW_END_DAY = 26  # the window ends on 2018-08-26
CONDUCT_SHARE = 0.015  # share of tickets in 干部作风 / 腐败问题
CONDUCT_SURGES = {("511123", 9): 2.2, ("511102", 11): 1.7}  # → 橙 and 黄
SATISFACTION_DROPS = {("511113", 10): 0.84, ("511132", 11): 0.88}  # → 红 and 黄

# Inspections: unit-years with rectification left undone past the due date (overdue alerts).
RECTIFICATION_GAPS = {(2017, "511113"): 5, (2017, "511132"): 15}
POLITICAL_CHECKUP_2018 = {"county_committees": ("511124", "511111"), "municipal_departments": 5,
                          "grassroots": 400, "problems_found": 2110, "clues_transferred": 341}


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    size: float


def units(count: int = len(UNITS)) -> list[Unit]:
    """The Leshan units, or more (synthetic codes 52xxxx, sized like Leshan's) for scale runs."""
    base = [Unit(*u) for u in UNITS]
    extra = [Unit(f"52{k:04d}", f"模拟县{k:04d}", base[k % len(base)].size) for k in range(count - len(base))]
    return base[:count] + extra


def level(code: str, year: int) -> int:
    """The composite a unit-year is steered to; synthetic units borrow a Leshan unit's levels."""
    if code in LEVELS:
        return LEVELS[code][YEARS.index(year)]
    borrowed = UNITS[int(code[2:]) % len(UNITS)][0]
    return LEVELS[borrowed][YEARS.index(year) % len(YEARS)]


def new_share(code: str, year: int) -> float:
    return NEW_SHARE_OVERRIDES.get((year, code), NEW_SHARE_BY_LEVEL[level(code, year)])


def hotline_satisfaction(code: str, year: int) -> float:
    return {94: 0.975, 85: 0.962, 75: 0.945, 63: 0.93}[level(code, year)]


def hotline_on_time(code: str, year: int) -> float:
    return {94: 0.97, 85: 0.94, 75: 0.91, 63: 0.88}[level(code, year)]


def largest_remainder(weights, total: int) -> np.ndarray:
    """Integers proportional to `weights` that add up to exactly `total`."""
    w = np.asarray(weights, dtype=float)
    raw = w / w.sum() * total
    counts = np.floor(raw).astype(int)
    short = total - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts
