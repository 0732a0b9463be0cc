"""Pipeline benchmark: the full pipeline through Dagster (ingest, checks, dbt, publish) at the Leshan
scale (1×) and the Sichuan scale (17×: 183 units, about ten million hotline tickets), then the cost of
adding one month of hotline tickets and re-running.

    python bench/pipeline_bench.py [--scales 1,17]     (make bench)
    python bench/pipeline_bench.py --scales national   (make bench-national: 2,800 units, 100 M tickets)

Each run is a child process (`jingtu materialize` in-process, dbt as its grandchild); its peak RSS
is the larger of its own and its children's. Stage times come from Dagster's step statistics.
Writes bench/results/pipeline.md; data goes to bench/work/scale_<S>/ (not committed).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import BASE_TICKETS, machine

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
# scale name -> (units, hotline tickets in 2018); None keeps the sample's
SCALES = {"1": (None, None), "17": (183, 10_000_000), "national": (2_800, 100_000_000)}
PANDAS_MEMORY_CAP = 20 * 2**30  # past it pandas fails with MemoryError instead of starving the machine
NEW_MONTH = "12345_2018-12.csv"  # the month whose arrival the incremental run handles
UNITS_DEFAULT = HERE.parent / "dbt_project" / "seeds" / "units.csv"


def stage_of(step_key: str) -> str:
    if step_key.endswith("_expectations"):
        return "checks"
    if step_key.startswith("raw__"):
        return "ingest"
    if "dbt" in step_key or "monitoring" in step_key:
        return "dbt"
    return "publish"


def reference_child(raw: Path, units: Path, out: Path) -> None:
    """bench/reference.sql over the raw files; GB18030 files are transcoded first (timed)."""
    import tempfile

    import duckdb

    from orchestration.ingest import sniff_encoding, transcode_to_utf8
    from orchestration.lib.duck import load_excel_extension

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jingtu-reference-") as scratch:
        mirror = Path(scratch)
        for path in raw.glob("*/*/*.csv"):
            target = mirror / path.relative_to(raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            if sniff_encoding(path)[0] == "utf-8":
                target.symlink_to(path.resolve())
            else:
                transcode_to_utf8(path, "gb18030", target)
        xlsx = {source: " union all by name ".join(
                    f"select *, '{p}' as filename from read_xlsx('{p}', header = true, all_varchar = true)"
                    for p in sorted(raw.glob(f"{source}/*/*.xlsx"))) or "select null as filename where false"
                for source in ("development", "inspections")}
        script = (HERE / "reference.sql").read_text().format(
            raw=mirror, units=units, xlsx_development=xlsx["development"], xlsx_inspections=xlsx["inspections"])
        out.unlink(missing_ok=True)
        with duckdb.connect(str(out)) as con:  # DuckDB's defaults, as a hand-written script would run
            load_excel_extension(con)
            for statement in script.split(";\n"):
                if statement.strip():
                    con.execute(statement)
            con.execute("create table hotline_daily_result as select * from hotline_daily;"
                        "create table evaluation_result as select * from evaluation")
            (rows,) = con.execute("select count(*) from tickets").fetchone()
    print(json.dumps({"seconds_inside": time.perf_counter() - started, "tickets": rows,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(args: list[str]) -> None:
    """Materialise the given years (all years when none) into the environment's warehouse."""
    from dagster import DagsterInstance

    from orchestration import cli
    from orchestration.lib.duck import connect
    from orchestration.settings import warehouse_path

    started = time.perf_counter()
    with open(os.devnull, "w") as quiet, _redirect_stdout(quiet):
        status = cli.main(["materialize", *args])
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"jingtu materialize {' '.join(args)} failed ({status})")
    stages: dict[str, float] = {}
    instance = DagsterInstance.get()
    for run in instance.get_runs():
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                stage = stage_of(step.step_key)
                stages[stage] = stages.get(stage, 0.0) + step.end_time - step.start_time
    with connect(warehouse_path(), read_only=True) as con:
        (rows_in,) = con.execute("select sum(rows_read) from raw.load_files").fetchone()
        (tickets,) = con.execute("select count(*) from raw.hotline").fetchone()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "stages": stages, "rows": rows_in, "tickets": tickets,
                      "peak_rss_mib": max(own, children), "own_mib": own, "dbt_mib": children}))


class _redirect_stdout:
    """Send fd 1 to a file (dbt and Dagster print a lot), keeping our own JSON line for the end."""

    def __init__(self, target):
        self.target = target

    def __enter__(self):
        sys.stdout.flush()
        self.saved = os.dup(1)
        os.dup2(self.target.fileno(), 1)

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)


def prepare(scale: str) -> tuple[Path, dict]:
    """Generate the scale's raw data once; return its folder and the environment of a fresh run."""
    from orchestration.sample import generate

    folder = WORK / f"scale_{scale}"
    raw = folder / "raw"
    units, tickets = SCALES[scale]
    hotline_scale = tickets / BASE_TICKETS if tickets else 1.0
    if not any(raw.glob("*/*")):
        generate(raw, unit_count=units, hotline_scale=hotline_scale, progress=lambda _: None)
    env = {**os.environ, "JINGTU_RAW": str(raw), "JINGTU_PII_SALT": "bench-salt",
           "JINGTU_WAREHOUSE": str(folder / "warehouse" / "jingtu.duckdb"), "DAGSTER_HOME": str(folder / "dagster")}
    if units:
        env["JINGTU_UNITS"] = str(raw / "units.csv")
    return folder, env


def fresh(folder: Path) -> None:
    for name in ("warehouse", "dagster"):
        shutil.rmtree(folder / name, ignore_errors=True)


def measure(command: list[str], env: dict | None = None) -> dict:
    """Run a child; its JSON answer plus wall time and the peak RSS of it and its descendants."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{out[-3000:]}\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def measure_or_failure(command: list[str]) -> dict:
    """A baseline that fails (out of memory, say) is a finding to report, not the end of the run."""
    try:
        return measure(command)
    except SystemExit as failure:
        last = [line for line in str(failure).splitlines() if line.strip()][-1]
        return {"failed": last[:200]}


def compare(warehouse: Path, reference: Path, pandas_prefix: Path | None) -> list[str]:
    """The marts the three computed must agree; returns the disagreements."""
    from orchestration.lib.duck import connect

    problems = []
    with connect(reference) as con:
        con.execute(f"attach '{warehouse}' as pipeline (read_only)")
        evaluation = "select year, county_code, round(composite, 9) as composite, grade from {}"
        daily = ("select year, received_on, county_code, tickets_received, tickets_closed, tickets_closed_on_time,"
                 " tickets_rated, tickets_satisfied, conduct_complaints from {}")
        pairs = {
            "evaluation: pipeline vs reference": (evaluation.format("pipeline.marts.fct_county_evaluation"),
                                                  evaluation.format("evaluation_result")),
            "evaluation: pandas vs reference": (evaluation.format(f"'{pandas_prefix}_evaluation.parquet'"),
                                                evaluation.format("evaluation_result")),
            "hotline_daily: pipeline vs reference": (daily.format("pipeline.marts.fct_hotline_daily"),
                                                     daily.format("hotline_daily_result")),
            "hotline_daily: pandas vs reference": (daily.format(f"'{pandas_prefix}_hotline_daily.parquet'"),
                                                   daily.format("hotline_daily_result")),
        }
        for name, (left, right) in pairs.items():
            if "pandas" in name and pandas_prefix is None:
                continue
            (differences,) = con.execute(f"select count(*) from (({left} except all {right}) union all "
                                         f"({right} except all {left}))").fetchone()
            if differences:
                problems.append(f"{name}: {differences} rows differ")
    return problems


def bench_scale(scale: str) -> dict:
    folder, env = prepare(scale)
    raw, units = Path(env["JINGTU_RAW"]), Path(env.get("JINGTU_UNITS", UNITS_DEFAULT))
    fresh(folder)
    full = measure([sys.executable, __file__, "--child"], env)
    # A month lands in its year's folder; the yearly partition is then reloaded whole.
    (raw / "hotline" / "2018" / NEW_MONTH).touch()
    shutil.rmtree(folder / "dagster", ignore_errors=True)  # so that the stage sums are this run's
    incremental = measure([sys.executable, __file__, "--child", "2018"], env)
    reference = measure_or_failure([sys.executable, __file__, "--child", "reference", str(raw), str(units),
                                    str(folder / "reference.duckdb")])
    pandas = measure_or_failure([sys.executable, str(HERE / "pandas_baseline.py"), str(raw), str(units),
                                 str(folder / "pandas"), str(PANDAS_MEMORY_CAP)])
    problems = ["the reference failed"] if "failed" in reference else compare(
        Path(env["JINGTU_WAREHOUSE"]), folder / "reference.duckdb", folder / "pandas" if "failed" not in pandas else None)
    return {"scale": scale, "full": full, "incremental": incremental, "reference": reference, "pandas": pandas,
            "problems": problems}


def report(results: list[dict]) -> str:
    lines = ["# Pipeline benchmark", "", f"Machine: {machine()}.", f"Run: {time.strftime('%Y-%m-%d %H:%M')} UTC.",
             "", "- (a) pipeline: `jingtu materialize` through Dagster: ingest, quality checks, dbt (every",
             "  mart and the monthly warnings), publication. Stage seconds are sums of Dagster step durations.",
             "- (b) reference: `bench/reference.sql`, one DuckDB script from the raw files to the evaluation",
             "  and the daily hotline counts (GB18030 files transcoded first, timed).",
             "- (c) pandas: `bench/pandas_baseline.py`, the same two results the straightforward pandas way.",
             "- Peak RSS is the largest resident set of the process and of any of its children (dbt). A",
             "  forked child starts with its parent's count, so for (a) this is an upper bound of either.",
             "- Rows: raw rows read (all sources, all years); rows/s = rows / wall.", ""]
    lines += [("| scale | run | wall (s) | ingest (s) | checks (s) | dbt (s) | publish (s) | rows/s "
              "| peak RSS (MiB) |"),
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows = r["full"]["rows"]
        for name in ("full", "incremental"):
            run, s = r[name], r[name]["stages"]
            label = "(a) pipeline, all years" if name == "full" else "add 2018-12, re-run 2018"
            lines.append(f"| {r['scale']}× | {label} | {run['seconds']:.1f} | {s.get('ingest', 0):.1f} "
                         f"| {s.get('checks', 0):.1f} | {s.get('dbt', 0):.1f} | {s.get('publish', 0):.1f} "
                         f"| {run['rows'] / run['seconds']:,.0f} | {run['peak_rss_mib']:.0f} |")
        for name, label in (("reference", "(b) DuckDB reference script"), ("pandas", "(c) pandas")):
            run = r[name]
            if "failed" in run:
                lines.append(f"| {r['scale']}× | {label} | failed: {run['failed']} | | | | | | |")
                continue
            lines.append(f"| {r['scale']}× | {label} | {run['seconds']:.1f} | | | | | {rows / run['seconds']:,.0f} "
                         f"| {run['peak_rss_mib']:.0f} |")
    lines += ["", "Rows per second per stage of (a), the raw rows over the stage's seconds:", "",
              "| scale | ingest | checks | dbt | publish |", "|---|---:|---:|---:|---:|"]
    for r in results:
        s, rows = r["full"]["stages"], r["full"]["rows"]
        lines.append(f"| {r['scale']}× | " + " | ".join(f"{rows / s[k]:,.0f}" if s.get(k) else "—"
                                                     for k in ("ingest", "checks", "dbt", "publish")) + " |")
    lines += ["", ("| scale | tickets | a / b (time) | c / a (time) | c / a (peak memory) | incremental / full "
              "| results agree |"), "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        a, b, c = r["full"], r["reference"], r["pandas"]
        a_b = f"{a['seconds'] / b['seconds']:.1f}" if "failed" not in b else "reference failed"
        c_time = f"{c['seconds'] / a['seconds']:.2f}" if "failed" not in c else "pandas failed"
        c_memory = f"{c['peak_rss_mib'] / a['peak_rss_mib']:.2f}" if "failed" not in c else "pandas failed"
        lines.append(f"| {r['scale']}× | {a['tickets']:,} | {a_b} | {c_time} | {c_memory} "
                     f"| {r['incremental']['seconds'] / a['seconds']:.0%} "
                     f"| {'yes' if not r['problems'] else '; '.join(r['problems'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,17", help=f"comma-separated, of {', '.join(SCALES)}")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the saved JSON")
    args = parser.parse_args()
    name = "pipeline" if "national" not in args.scales else "national"
    if args.report_only:
        results = json.loads((HERE / "results" / f"{name}.json").read_text())
        (HERE / "results" / f"{name}.md").write_text(report(results))
        return
    results = []
    for scale in args.scales.split(","):
        results.append(bench_scale(scale))
        (HERE / "results" / f"{name}.json").write_text(json.dumps(results, indent=1))  # kept if a later scale fails
        (HERE / "results" / f"{name}.md").write_text(report(results))
        print(report(results), flush=True)


if __name__ == "__main__":
    if sys.argv[1:3] == ["--child", "reference"]:
        reference_child(*(Path(a) for a in sys.argv[3:6]))
    elif sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
