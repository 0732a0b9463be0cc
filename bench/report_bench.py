"""County-portrait benchmark (精准画像): the time to render one year's page at 1× (Leshan: 11 units),
17× (187 units) and the national scale (2,805 units), and its size. The larger inputs are the 1×
warehouse's marts with every unit copied 17 or 255 times (the page's cost depends on the units and
their rows, not on the tickets behind them).

    python bench/report_bench.py          (part of make bench)

The 1× warehouse is the grade-confidence benchmark's (bench/work/confidence/base/, made once by
`jingtu materialize` over the default sample). Writes bench/results/report.md.
"""

import datetime
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from confidence_bench import WORK, base_warehouse, copy_units
from ingest_bench import machine

YEAR = 2018
# Every mart a page reads that has a county_code, copied per unit.
PER_UNIT = ("fct_county_evaluation", "fct_grade_confidence", "fct_indicators", "fct_components", "dim_county",
            "fct_early_warnings", "fct_warning_funnels")


def scaled(base: Path, copies: int) -> Path:
    import duckdb

    path = copy_units(base, copies, PER_UNIT, f"report_x{copies}")
    with duckdb.connect(str(path)) as con:  # names stay distinct, as the page shows them
        con.execute("update marts.dim_county set county_name = county_name || '-' || split_part(county_code, '-', 2)"
                    " where county_code like '%-%'")
    return path


def measure(warehouse: Path, out: Path) -> dict:
    import duckdb

    from orchestration import portrait

    shutil.rmtree(out, ignore_errors=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (units,) = con.execute("select count(*) from marts.fct_county_evaluation where year = $y", {"y": YEAR}).fetchone()
        started = time.perf_counter()
        page = portrait.render_year(con, YEAR, out)
        seconds = time.perf_counter() - started
    return {"units": units, "seconds": seconds, "bytes": page.stat().st_size}


def main() -> None:
    base = base_warehouse()
    rows = []
    for label, copies, limit in (("1×", 1, 5), ("17×", 17, 30), ("national", 255, 60)):
        result = measure(scaled(base, copies), WORK / f"report_x{copies}" / "reports")
        rows.append((label, result, limit))
        print(f"{label}: {result['units']} units, {result['seconds']:.2f} s, {result['bytes'] / 2**20:.1f} MiB")
    lines = ["# County portraits: rendering one year's page (`bench/report_bench.py`)", "",
             (f"Measured {datetime.date.today()} on {machine()}: `portrait.render_year` for {YEAR}, the page and its "
             "Plotly charts (4 per unit and the 2 funnels) written from the warehouse; `plotly.min.js` is written "
             "once beside the pages (4.6 MiB, not counted)."), "",
             "| scale | units | seconds | target | page size |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {label} | {r['units']} | {r['seconds']:.2f} | < {limit} s | {r['bytes'] / 2**20:.1f} MiB |"
              for label, r, limit in rows]
    (HERE / "results" / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
