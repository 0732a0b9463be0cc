"""Grade-confidence benchmark (methodology §7.1): wall time and peak memory of building
marts.fct_grade_confidence at 1× (Leshan: 11 units × 4 years), 17× (187 units × 4 years) and the
national scale (2,805 units × 4 years), at the configured 2,000 draws. The larger inputs are the 1×
warehouse's components and evaluation with every unit copied 17 or 255 times (the model's cost
depends on units × years × components × draws, not on the tickets behind them).

    python bench/confidence_bench.py

The 1× warehouse comes from `jingtu materialize` over the default sample in bench/work/confidence/
(made once). Each `dbt run` is a child process, so its peak RSS is its own (dbt's Python included).
Writes bench/results/confidence.md.
"""

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
WORK = HERE / "work" / "confidence"
BIN = Path(sys.executable).parent
SCALES = {"1×": 1, "17×": 17, "national": 255}


def base_warehouse() -> Path:
    """The default sample, materialised once (every mart of every year)."""
    warehouse = WORK / "base" / "jingtu.duckdb"
    if not warehouse.exists():
        env = {**os.environ, "JINGTU_RAW": str(WORK / "raw"), "JINGTU_WAREHOUSE": str(warehouse),
               "DAGSTER_HOME": str(WORK / "dagster_home")}
        subprocess.run([BIN / "jingtu", "generate", "--out", str(WORK / "raw"), "--force"], env=env, check=True)
        subprocess.run([BIN / "jingtu", "materialize"], env=env, check=True, stdout=subprocess.DEVNULL)
    return warehouse


def copy_units(base: Path, copies: int, tables: tuple[str, ...], folder: str) -> Path:
    """A copy of `base` (in WORK/`folder`) whose marts `tables` hold every unit `copies` times, the
    copies' codes suffixed -1, -2, …"""
    import duckdb

    path = WORK / folder / "jingtu.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base, path)
    with duckdb.connect(str(path)) as con:
        for table in tables if copies > 1 else ():
            con.execute(f"""
                create or replace table marts.{table} as
                select * replace (county_code || case when k = 0 then '' else '-' || k end as county_code)
                from marts.{table}, range({copies}) as copies(k)""")
    return path


def scaled(base: Path, copies: int) -> Path:
    """A copy of `base` whose evaluation and components hold every unit `copies` times."""
    import duckdb

    path = copy_units(base, copies, ("fct_county_evaluation", "fct_components"), f"x{copies}")
    if copies > 1:
        with duckdb.connect(str(path)) as con:
            con.execute("drop table if exists marts.fct_grade_confidence")
    return path


def measure(warehouse: Path) -> dict:
    """`dbt run` of the model alone, in a child process: wall time, dbt's timing of the model, peak RSS."""
    env = {**os.environ, "JINGTU_WAREHOUSE": str(warehouse), "JINGTU_DBT_YEAR": "", "JINGTU_DBT_MONTHS": "",
           "JINGTU_UNITS": str(ROOT / "dbt_project" / "seeds" / "units.csv")}
    target = warehouse.parent / "target"
    started = time.perf_counter()
    child = subprocess.Popen([BIN / "dbt", "run", "-s", "fct_grade_confidence", "--quiet", "--target-path",
                              str(target), "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir",
                              str(ROOT / "dbt_project")], env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"dbt run failed for {warehouse} (status {status})")
    (result,) = json.loads((target / "run_results.json").read_text())["results"]
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows, draws = con.execute("select count(*), max(draws) from marts.fct_grade_confidence").fetchone()
    return {"unit_years": rows, "draws": draws, "seconds": round(seconds, 1),
            "model_seconds": round(result["execution_time"], 1), "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def pipeline_seconds_1x() -> float | None:
    """The 1× full pipeline's time from the pipeline benchmark, for the 10 % budget."""
    results = HERE / "results" / "pipeline.json"
    if not results.exists():
        return None
    return next((r["full"]["seconds"] for r in json.loads(results.read_text()) if r.get("scale") == "1"), None)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    base = base_warehouse()
    results = {label: measure(scaled(base, copies)) for label, copies in SCALES.items()}
    pipeline = pipeline_seconds_1x()
    lines = [
        "# Grade confidence (fct_grade_confidence)",
        "",
        (f"Run {datetime.datetime.now():%Y-%m-%d %H:%M} on {platform.machine()}, {os.cpu_count()} cores, "
        f"DuckDB memory limit {os.environ.get('JINGTU_DUCKDB_MEMORY_LIMIT', '1.5GB')}. "
        "`dbt run -s fct_grade_confidence` in a child process; peak RSS is dbt's process (its Python included)."),
        "",
        "| scale | unit-years | draws | wall time | model (dbt's timing) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {label} | {r['unit_years']} | {r['draws']:,} | {r['seconds']} s | {r['model_seconds']} s "
          f"| {r['peak_rss_mib']:,} MiB |" for label, r in results.items()),
        "",
        "Targets (issue 15): under 15 s and 1 GiB at 17×; no more than 10 % of the 1× pipeline"
        + (f" ({pipeline:.1f} s in bench/results/pipeline.json: "
           f"{results['1×']['model_seconds'] / pipeline:.1%} here)." if pipeline else "."),
    ]
    out = HERE / "results" / "confidence.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
