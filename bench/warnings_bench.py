"""Early-warning benchmark (methodology §5.1): the false-alarm rate and the detection power of the
statistical rules (methodology 2019.1), beside the threshold rules (2018.1), measured on generated
monitoring scenarios (orchestration/sample/monitoring.py) of 183 units × 48 months:

- signals off: negative-binomial monthly counts, a Spring Festival dip, lasting differences between
  units and month-to-month noise in every rate, and nothing happening: every alert is false;
- shifts planted: the same, with conduct complaints doubled (and × 1.5) for 3 months in every unit,
  and satisfaction down 10 points (in 66 units) or 5 (in 40) for 2 months, at spread-out onsets.

Each scenario is generated, loaded by the project's loader and built by the project's dbt models
(`dbt build` of the monitoring models and what they need); the figures are read from the
warehouse. Targets (§5.1): per statistical signal ≤ 3 yellow and ≤ 0.5 orange/red per 100
unit-months on null data; ≥ 90 % of the doublings (baseline E ≥ 20) and of the 10-point drops
(≥ 100 rated tickets a month) detected within 2 months.

    python bench/warnings_bench.py [--units 183] [--seed 20180827]      (make bench-warnings)

Writes bench/results/warnings.md and warnings.json; data goes to bench/work/warnings/ (not committed).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
WORK = HERE / "work" / "warnings"
BIN = Path(sys.executable).parent
SALT = "bench-salt"
YEARS = (2015, 2016, 2017, 2018)
STATISTICAL, THRESHOLD = "2019.1", "2018.1"
SIGNALS = ("conduct_complaint_surge", "hotline_satisfaction_drop", "new_occurrence_rising", "overdue_rectification")
TARGET_YELLOW, TARGET_ORANGE_RED, TARGET_POWER = 3.0, 0.5, 90.0


def build(scenario: str, units: int, seed: int) -> tuple[Path, list, dict]:
    """Generate, load and build one scenario; its warehouse, its planted shifts and the stage times."""
    from orchestration.contracts import SOURCES
    from orchestration.ingest import ingest
    from orchestration.lib.duck import connect
    from orchestration.sample import generate

    folder = WORK / f"{scenario}_{units}"
    shutil.rmtree(folder, ignore_errors=True)
    raw, warehouse = folder / "raw", folder / "warehouse.duckdb"
    times = {}
    started = time.perf_counter()
    shifts = generate(raw, seed=seed, unit_count=units, signals=scenario, progress=lambda _: None)
    times["generate"] = time.perf_counter() - started
    units_csv = raw / "units.csv" if (raw / "units.csv").exists() else ROOT / "dbt_project" / "seeds" / "units.csv"
    started = time.perf_counter()
    with connect(warehouse) as con:
        for source in SOURCES.values():
            for year in YEARS:
                ingest(con, source, year, raw, units_csv, SALT)
    times["load"] = time.perf_counter() - started
    env = {**os.environ, "JINGTU_WAREHOUSE": str(warehouse), "JINGTU_UNITS": str(units_csv)}
    started = time.perf_counter()
    for args in (["seed"], ["build", "--select", "+path:models/monitoring", "--exclude", "resource_type:seed"]):
        result = subprocess.run([BIN / "dbt", *args, "--quiet", "--target-path", str(folder / "target"),
                                 "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")],
                                env=env, capture_output=True, text=True, check=False)
        if result.returncode:
            sys.exit(f"dbt {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    times["dbt"] = time.perf_counter() - started
    shutil.rmtree(raw)  # ~0.7 GB of CSV at 183 units; the warehouse stays for inspection
    return warehouse, shifts, times


def false_alarms(warehouse: Path) -> dict:
    """Alerts per 100 unit-months, by version, signal and severity (all unit-months in the
    denominator), and the unit-months each signal evaluated."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        (unit_months,) = con.execute("select count(*) from marts.fct_monitoring_monthly").fetchone()
        rates = {}
        for version, signal, severity, alerts in con.execute("""
                select methodology_version, signal, severity, count(*)
                from marts.fct_early_warnings_all_versions group by all""").fetchall():
            rates.setdefault(version, {}).setdefault(signal, {})[severity] = 100.0 * alerts / unit_months
        evaluated = dict(con.execute("""
            select 'conduct_complaint_surge', count(*) filter (where is_evaluated) from marts.fct_warning_surges
            where methodology_version = $v
            union all
            select signal, count(*) filter (where is_evaluated) from marts.fct_warning_funnels
            where methodology_version = $v group by signal""", {"v": STATISTICAL}).fetchall())
    return {"unit_months": unit_months, "per_100": rates, "evaluated": evaluated}


def first_alert(version: str) -> str:
    """Months from a shift's onset to its first alert under `version`, within the shift and
    the 2 months after it."""
    return f"""(select min(datediff('month', shifts.onset, alerts.month))
         from marts.fct_early_warnings_all_versions as alerts
         where alerts.methodology_version = '{version}' and alerts.signal = shifts.signal
           and alerts.county_code = shifts.county_code
           and alerts.month between shifts.onset and shifts.onset + to_months(shifts.months + 1))"""


def detection(warehouse: Path, shifts: list) -> list[dict]:
    """Each planted shift: eligible for the target (E ≥ 20 for a doubling, ≥ 100 rated tickets for a
    drop, read from the warehouse at its onset), and its delay to the first alert under each rule
    set (months from onset, within the shift and the 2 months after it; None when none)."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("create temp table shifts (signal varchar, county_code varchar, onset date, size double, months int)")
        con.executemany("insert into shifts values (?, ?, ?, ?, ?)",
                        [(s.signal, s.county_code, s.onset, s.size, s.months) for s in shifts])
        rows = con.execute(f"""
            select shifts.*, surges.expected as baseline_expected, monthly.hotline_rated as rated,
                {first_alert(STATISTICAL)} as delay, {first_alert(THRESHOLD)} as threshold_delay
            from shifts
            left join marts.fct_warning_surges as surges
                on surges.methodology_version = '{STATISTICAL}' and surges.county_code = shifts.county_code
                and surges.month = shifts.onset
            left join marts.fct_monitoring_monthly as monthly
                on monthly.county_code = shifts.county_code and monthly.month = shifts.onset""").fetchall()
        names = [d[0] for d in con.description]
    found = [dict(zip(names, r)) for r in rows]
    for shift in found:
        shift["eligible"] = (shift["baseline_expected"] or 0) >= 20 if shift["signal"] == "conduct_complaint_surge" \
            else (shift["rated"] or 0) >= 100
    return found


def summarise(shifts: list[dict], signal: str, size: float, eligible: bool | None, delay_key="delay") -> dict:
    chosen = [s for s in shifts if s["signal"] == signal and s["size"] == size
              and (eligible is None or s["eligible"] == eligible)]
    delays = sorted(s[delay_key] for s in chosen if s[delay_key] is not None)
    within_2 = sum(1 for d in delays if d <= 1)  # the onset month or the next
    return {"shifts": len(chosen), "within_2_months": within_2,
            "share_within_2_months": 100.0 * within_2 / len(chosen) if chosen else None,
            "median_delay": delays[len(delays) // 2] if delays else None}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(units: int, null: dict, shifts: list[dict], times: dict) -> str:
    labels = {"conduct_complaint_surge": "conduct-complaint surge", "hotline_satisfaction_drop": "satisfaction drop",
              "new_occurrence_rising": "new-occurrence rising", "overdue_rectification": "overdue rectification"}
    lines = [
        "# Early warnings: false alarms and detection (`make bench-warnings`)", "",
        (f"Measured {datetime.date.today()} on {machine()}; `bench/warnings_bench.py`, {units} units × "
        f"{12 * len(YEARS)} months ({null['unit_months']} unit-months), generated monitoring scenarios "
        "(orchestration/sample/monitoring.py) loaded by the project's loader and built by its dbt models."), "",
        "## False alarms: signals off (every alert is false)", "",
        ("Alerts per 100 unit-months (all unit-months in the denominator). Targets for each statistical "
        f"signal: ≤ {TARGET_YELLOW:g} yellow (黄) and ≤ {TARGET_ORANGE_RED:g} orange or red (橙/红)."), "",
        "| signal | statistical 黄 | statistical 橙+红 | target met | threshold 黄 | threshold 橙+红 |",
        "|---|---:|---:|---|---:|---:|",
    ]
    verdicts = []
    for signal in SIGNALS:
        stat = null["per_100"].get(STATISTICAL, {}).get(signal, {})
        thr = null["per_100"].get(THRESHOLD, {}).get(signal, {})
        yellow, high = stat.get("黄", 0.0), stat.get("橙", 0.0) + stat.get("红", 0.0)
        met = "—" if signal == "overdue_rectification" else (
            "yes" if yellow <= TARGET_YELLOW and high <= TARGET_ORANGE_RED else "**no**")
        if signal != "overdue_rectification":
            verdicts.append(met == "yes")
        lines.append(f"| {labels[signal]} | {yellow:.2f} | {high:.2f} | {met} | {thr.get('黄', 0.0):.2f} | "
                     f"{thr.get('橙', 0.0) + thr.get('红', 0.0):.2f} |")
    evaluated = ", ".join(f"{labels[s]} {n}" for s, n in sorted(null["evaluated"].items()))
    lines += ["", (f"Unit-months evaluated by the statistical rules: {evaluated} (of {null['unit_months']}). "
              "Overdue rectification is a fact, not a statistic: the scenario has none."), "",
              "## Detection: shifts planted", "",
              ("Share of the planted shifts with an alert of their signal (any severity) in their onset month or "
              "the next, and the median delay in months (0: the onset month) among those detected within the "
              "shift and the 2 months after it. Targets: ≥ 90 % for a doubling where the baseline's expected "
              "count E ≥ 20 and for a 10-point drop where the unit has ≥ 100 rated tickets a month."), "",
              "| shift | units | statistical: within 2 months | median delay | threshold: within 2 months | target met |",
              "|---|---:|---:|---:|---:|---|"]
    rows = [("conduct_complaint_surge", 2.0, True, "conduct complaints × 2, E ≥ 20", True),
            ("conduct_complaint_surge", 2.0, False, "conduct complaints × 2, E < 20", False),
            ("conduct_complaint_surge", 1.5, None, "conduct complaints × 1.5, all units", False),
            ("hotline_satisfaction_drop", 10.0, True, "satisfaction − 10 points, ≥ 100 rated", True),
            ("hotline_satisfaction_drop", 10.0, False, "satisfaction − 10 points, < 100 rated", False),
            ("hotline_satisfaction_drop", 5.0, None, "satisfaction − 5 points, all units", False)]
    for signal, size, eligible, label, targeted in rows:
        stat = summarise(shifts, signal, size, eligible)
        thr = summarise(shifts, signal, size, eligible, "threshold_delay")
        if not stat["shifts"]:
            continue
        met = "—"
        if targeted:
            ok = stat["shifts"] >= 50 and stat["share_within_2_months"] >= TARGET_POWER
            verdicts.append(ok)
            met = "yes" if ok else "**no**"
        lines.append(f"| {label} | {stat['shifts']} | {stat['share_within_2_months']:.1f} % | "
                     f"{stat['median_delay'] if stat['median_delay'] is not None else '—'} | "
                     f"{thr['share_within_2_months']:.1f} % | {met} |")
    lines += ["", f"**All targets met: {'yes' if all(verdicts) else 'no'}.**", "",
              "Stage times (s): " + "; ".join(f"{scenario}: " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())
                                           for scenario, t in times.items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=183)
    parser.add_argument("--seed", type=int, default=20180827)
    args = parser.parse_args()
    times = {}
    null_warehouse, _, times["signals off"] = build("off", args.units, args.seed)
    null = false_alarms(null_warehouse)
    shift_warehouse, planted, times["shifts planted"] = build("shifts", args.units, args.seed)
    shifts = detection(shift_warehouse, planted)
    text = report(args.units, null, shifts, times)
    results = HERE / "results"
    (results / "warnings.md").write_text(text, encoding="utf-8")
    (results / "warnings.json").write_text(json.dumps({"units": args.units, "null": null, "shifts": shifts,
                                                       "times": times}, default=str, indent=1), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
