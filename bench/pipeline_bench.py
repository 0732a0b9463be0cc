"""Pipeline benchmark: the full pipeline through Dagster (ingest, checks, dbt, publish) at the Leshan
scale (1×) and the Sichuan scale (17×: 183 units, about ten million hotline tickets), then the cost of
adding one month of hotline tickets and re-running.

    python bench/pipeline_bench.py [--scales 1,17]

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
SICHUAN_UNITS = 183
SICHUAN_TICKETS = 10_000_000
HELD_BACK = "12345_2018-12.csv"  # the month added for the incremental run


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

    from orchestration.ingest import sniff_encoding, transcode_to_utf8
    from orchestration.lib.duck import connect

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
        with connect(out) as con:
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


def run_child(env: dict, *years: str) -> dict:
    child_process = subprocess.run([sys.executable, __file__, "--child", *years], env=env, capture_output=True,
                                   text=True, check=False)
    if child_process.returncode != 0:
        raise SystemExit(f"pipeline child failed:\n{child_process.stdout[-3000:]}\n{child_process.stderr[-3000:]}")
    return json.loads(child_process.stdout.strip().splitlines()[-1])


def prepare(scale: int) -> tuple[Path, dict]:
    """Generate the scale's raw data once; return its folder and the environment of a fresh run."""
    from orchestration.sample import generate

    folder = WORK / f"scale_{scale}"
    raw = folder / "raw"
    units = None if scale == 1 else SICHUAN_UNITS
    hotline_scale = 1.0 if scale == 1 else SICHUAN_TICKETS / BASE_TICKETS
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


def bench_scale(scale: int) -> list[tuple[str, dict]]:
    folder, env = prepare(scale)
    month = folder / "raw" / "hotline" / "2018" / HELD_BACK
    held = folder / HELD_BACK
    shutil.move(month, held)  # the full run is of everything but the last month
    try:
        fresh(folder)
        full = run_child(env)
    finally:
        shutil.move(held, month)
    shutil.rmtree(folder / "dagster", ignore_errors=True)  # time the incremental run's steps only
    incremental = run_child(env, "2018")
    return [(f"{scale}× full pipeline (all years, without 2018-12)", full),
            (f"{scale}× add the month 2018-12 and re-run 2018", incremental)]


def report(results: list[tuple[str, dict]]) -> str:
    lines = ["# Pipeline benchmark", "", f"Machine: {machine()}.", f"Run: {time.strftime('%Y-%m-%d %H:%M')} UTC.",
             "", "Stage seconds are the sums of Dagster's step durations; the rest of the wall time is",
             "process start-up, imports and run bookkeeping. Peak RSS is the larger of the `jingtu`",
             "process and its dbt subprocess.", "",
             ("| run | wall (s) | ingest (s) | checks (s) | dbt (s) | publish (s) | raw rows | rows/s (ingest) "
             "| peak RSS (MiB) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results:
        s = r["stages"]
        rate = r["rows"] / s["ingest"] if s.get("ingest") else 0
        lines.append(f"| {name} | {r['seconds']:.1f} | {s.get('ingest', 0):.1f} | {s.get('checks', 0):.1f} "
                     f"| {s.get('dbt', 0):.1f} | {s.get('publish', 0):.1f} | {r['rows']:,} | {rate:,.0f} "
                     f"| {r['peak_rss_mib']:.0f} |")
    for (name, full), (_, incremental) in zip(results[::2], results[1::2], strict=True):
        lines.append("")
        lines.append(f"{name.split()[0]}: the one-month incremental run took "
                     f"{incremental['seconds'] / full['seconds']:.0%} of the full run.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,17")
    args = parser.parse_args()
    results = []
    for scale in (int(s) for s in args.scales.split(",")):
        results += bench_scale(scale)
        print(report(results), flush=True)
    (HERE / "results" / "pipeline.md").write_text(report(results))


if __name__ == "__main__":
    if sys.argv[1:3] == ["--child", "reference"]:
        reference_child(*(Path(a) for a in sys.argv[3:6]))
    elif sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
