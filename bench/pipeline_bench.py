"""Pipeline benchmark: the full pipeline through Dagster (ingest, checks, dbt, publish) at the Leshan
scale (1×) and the Sichuan scale (17×: 183 units, about ten million hotline tickets), then the cost of
adding one month of hotline tickets and re-running, and of running again with nothing new; the
figures are judged against issue 19's targets at the end of the report.

    python bench/pipeline_bench.py [--scales 1,17]     (make bench)
    python bench/pipeline_bench.py --scales national --skip incremental
                                                       (make bench-national: 2,800 units, 100 M tickets)

The full run materialises every year with December 2018's export held back; the incremental run
then adds it and re-runs 2018 (without an incremental run, the full run has every file). Each run
is a child process (`jingtu materialize`, dbt inside it); its peak RSS is the larger of its own
and its children's, and the warehouse folder (DuckDB's spill files included) is
sampled for the peak disk use. Stage times come from Dagster's step statistics. Writes
bench/results/pipeline.md (national.md); data goes to bench/work/scale_<S>/ (not committed).
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import BASE_TICKETS, machine, python_speed

from orchestration.settings import UNITS_SEED, duckdb_memory_limit

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
# scale name -> (units, hotline tickets in 2018); None keeps the sample's
SCALES = {"1": (None, None), "17": (183, 10_000_000), "national": (2_800, 100_000_000)}
PANDAS_MEMORY_CAP = 20 * 2**30  # past it pandas fails with MemoryError instead of starving the machine
NEW_MONTH = "12345_2018-12.csv"  # held back from the full run; its arrival is the incremental run
SALT = "bench-salt"  # the pipeline's key, and (f)'s, so that both hash a phone alike


def stage_of(step_key: str) -> str:
    if step_key.endswith("_expectations"):
        return "checks"
    if step_key.startswith("raw__"):
        return "ingest"
    if "dbt" in step_key or "monitoring" in step_key:
        return "dbt"
    return "publish"


def utf8_mirror(raw: Path, mirror: Path) -> None:
    """The raw CSV files under `mirror`, GB18030 ones transcoded (DuckDB reads UTF-8), the rest linked."""
    from orchestration.ingest import sniff_encoding

    for path in raw.glob("*/*/*.csv"):
        target = mirror / path.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        if sniff_encoding(path)[0] == "utf-8":
            target.symlink_to(path.resolve())
        else:
            with path.open(encoding="gb18030", newline="") as source, \
                    target.open("w", encoding="utf-8", newline="") as copy:
                shutil.copyfileobj(source, copy, 1 << 24)


def xlsx_union(raw: Path, source: str, options: str) -> str:
    """One query over a source's .xlsx files, each row with its file name."""
    return " union all by name ".join(
        f"select *, '{p}' as filename from read_xlsx('{p}', header = true{options})"
        for p in sorted(raw.glob(f"{source}/*/*.xlsx"))) or "select null as filename where false"


def floor_child(raw: Path, out: Path) -> None:
    """The floor: every raw file read into typed DuckDB tables (types detected; a value that does not
    convert skips its row, as no rule is applied), GB18030 files transcoded first (timed)."""
    import tempfile

    import duckdb

    from orchestration.lib.duck import load_excel_extension

    started = time.perf_counter()
    rows = 0
    with tempfile.TemporaryDirectory(prefix="jingtu-floor-") as scratch:
        utf8_mirror(raw, Path(scratch))
        out.unlink(missing_ok=True)
        with duckdb.connect(str(out)) as con:
            load_excel_extension(con)
            for source in ("hotline", "cases", "inspections", "surveys", "development"):
                csv = f"select * from read_csv('{scratch}/{source}/*/*.csv', union_by_name = true, filename = true," \
                      " ignore_errors = true)"
                if any(raw.glob(f"{source}/*/*.xlsx")):
                    csv += f" union all by name {xlsx_union(raw, source, '')}"
                con.execute(f"create table {source} as {csv}")
                rows += con.execute(f"select count(*) from {source}").fetchone()[0]
    print(json.dumps({"seconds_inside": time.perf_counter() - started, "rows": rows,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def reference_child(raw: Path, units: Path, out: Path, kept: bool = False) -> None:
    """bench/reference.sql over the raw files; GB18030 files are transcoded first (timed). `kept`:
    every ticket kept in `out` with its file, the caller phone hashed and the free text masked by
    the loader's SQL, as the warehouse must keep them (rejected rows included, without reasons)."""
    import tempfile

    import duckdb

    from orchestration.lib import pii
    from orchestration.lib.duck import load_excel_extension

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jingtu-reference-") as scratch:
        mirror = Path(scratch)
        utf8_mirror(raw, mirror)
        xlsx = {source: xlsx_union(raw, source, ", all_varchar = true") for source in ("development", "inspections")}
        personal_data = ("\n        filename as source_file,"
                         f""" {pii.hash_sql('"来电号码"')} as caller_key,"""
                         f""" {pii.mask_sql('"诉求内容"')} as content,""") if kept else ""
        script = (HERE / "reference.sql").read_text().format(
            raw=mirror, units=units, xlsx_development=xlsx["development"], xlsx_inspections=xlsx["inspections"],
            hotline_table="table" if kept else "temp table", personal_data=personal_data,
            drop_hotline="" if kept else "drop table hotline_typed;")
        out.unlink(missing_ok=True)
        with duckdb.connect(str(out)) as con, pii.caller_keys(con, SALT):  # DuckDB's defaults, as a script would run
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
    from orchestration.lib.processes import exit_now
    from orchestration.settings import warehouse_path

    started, started_at = time.perf_counter(), datetime.datetime.now()
    with open(os.devnull, "w") as quiet, _redirect_stdout(quiet):
        status = cli.main(["materialize", *args])
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"jingtu materialize {' '.join(args)} failed ({status})")
    steps: dict[str, float] = {}
    instance = DagsterInstance.get()
    for run in instance.get_runs():
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                steps[step.step_key] = steps.get(step.step_key, 0.0) + step.end_time - step.start_time
    stages: dict[str, float] = {}
    for key, step_seconds in steps.items():
        stages[stage_of(key)] = stages.get(stage_of(key), 0.0) + step_seconds
    with connect(warehouse_path(), read_only=True) as con:
        rows_in, rows_now = con.execute("select sum(rows_read), sum(rows_read) filter (where loaded_at >= $started)"
                                        " from raw.load_files", {"started": started_at}).fetchone()
        (tickets,) = con.execute("select count(*) from raw.hotline").fetchone()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "stages": stages, "steps": steps, "rows": rows_in, "rows_read_by_run": rows_now or 0,
                      "tickets": tickets,
                      "peak_rss_mib": max(own, children), "own_mib": own, "dbt_mib": children}))
    exit_now(0)  # as the `jingtu` console script ends


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
    env = {**os.environ, "JINGTU_RAW": str(raw), "JINGTU_PII_SALT": SALT,
           "JINGTU_WAREHOUSE": str(folder / "warehouse" / "jingtu.duckdb"), "DAGSTER_HOME": str(folder / "dagster")}
    if units:
        env["JINGTU_UNITS"] = str(raw / "units.csv")
    return folder, env


def fresh(folder: Path) -> None:
    for name in ("warehouse", "dagster"):
        shutil.rmtree(folder / name, ignore_errors=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


class DiskPeak(threading.Thread):
    """The largest size `folder` reaches while a child runs (sampled every second)."""

    def __init__(self, folder: Path | None):
        super().__init__(daemon=True)
        self.folder, self.peak, self.done = folder, 0, threading.Event()

    def run(self):
        while self.folder and not self.done.wait(1.0):
            try:
                self.peak = max(self.peak, folder_bytes(self.folder))
            except FileNotFoundError:  # a spill file removed while listed
                pass


def measure(command: list[str], env: dict | None = None, disk: Path | None = None) -> dict:
    """Run a child; its JSON answer plus wall time, the peak RSS of it and its descendants, and the
    peak size of `disk`. A child that fails (out of memory, say) is a finding to report: its answer
    is {"failed": …} and whatever it said before failing."""
    started = time.perf_counter()
    sampler = DiskPeak(disk)
    sampler.start()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    sampler.done.set()
    sampler.join()
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    if process.returncode != 0:
        last = [line for line in (err or out).splitlines() if line.strip()] or [f"exit status {process.returncode}"]
        result.setdefault("failed", last[-1][:200])
        print(f"{' '.join(command[:4])} failed:\n{out[-2000:]}\n{err[-2000:]}", file=sys.stderr)
    result["seconds"] = time.perf_counter() - started
    if disk:
        result["peak_disk_gib"] = max(sampler.peak, folder_bytes(disk)) / 2**30
    return result


def unchanged_run(env: dict) -> dict:
    """`jingtu materialize` once more with nothing new: the wall time until it says so, interpreter
    start included, as a person waits for it."""
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("jingtu")), "materialize"], check=False, env=env,
                          capture_output=True, text=True)
    result = {"seconds": time.perf_counter() - started}
    if done.returncode != 0 or "nothing new since" not in done.stdout:
        result["failed"] = f"exit status {done.returncode}, not the run with nothing new it should be"
    return result


def compare(warehouse: Path, reference: Path, baselines: dict[str, Path]) -> list[str]:
    """The marts the pipeline and the baselines (name -> Parquet prefix, or a DuckDB file with the
    reference's result tables) computed must equal the reference's; returns the disagreements."""
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
            "hotline_daily: pipeline vs reference": (daily.format("pipeline.marts.fct_hotline_daily"),
                                                     daily.format("hotline_daily_result")),
        }
        for baseline, source in baselines.items():
            if source.suffix == ".duckdb":
                con.execute(f"attach '{source}' as {baseline} (read_only)")
                results = (f"{baseline}.main.evaluation_result", f"{baseline}.main.hotline_daily_result")
            else:
                results = (f"'{source}_evaluation.parquet'", f"'{source}_hotline_daily.parquet'")
            pairs[f"evaluation: {baseline} vs reference"] = (evaluation.format(results[0]),
                                                             evaluation.format("evaluation_result"))
            pairs[f"hotline_daily: {baseline} vs reference"] = (daily.format(results[1]),
                                                                daily.format("hotline_daily_result"))
        for name, (left, right) in pairs.items():
            (differences,) = con.execute(f"select count(*) from (({left} except all {right}) union all "
                                         f"({right} except all {left}))").fetchone()
            if differences:
                problems.append(f"{name}: {differences} rows differ")
    return problems


def bench_scale(scale: str, skip: set[str]) -> dict:
    folder, env = prepare(scale)
    raw, units = Path(env["JINGTU_RAW"]), Path(env.get("JINGTU_UNITS", UNITS_SEED))
    warehouse = Path(env["JINGTU_WAREHOUSE"]).parent
    fresh(folder)
    started_at = time.strftime("%Y-%m-%d %H:%M")
    month, held_back = raw / "hotline" / "2018" / NEW_MONTH, folder / NEW_MONTH
    if "incremental" not in skip:
        month.rename(held_back)
    try:
        full = measure([sys.executable, __file__, "--child"], env, disk=warehouse)
    finally:
        if held_back.exists():
            held_back.rename(month)
    result = {"scale": scale, "run_at": started_at, "memory_limit": duckdb_memory_limit(), "full": full,
              "raw_gib": folder_bytes(raw) / 2**30}
    if "failed" in full:  # a finding as well: reported with its time and peaks; nothing else to compare
        return result
    if "incremental" not in skip:  # December arrives: appended, checked and aggregated alone
        shutil.rmtree(folder / "dagster", ignore_errors=True)  # so that the stage sums are this run's
        result["incremental"] = measure([sys.executable, __file__, "--child", "2018"], env, disk=warehouse)
        result["unchanged"] = unchanged_run(env)
    if "reference" not in skip:
        result["reference"] = measure([sys.executable, __file__, "--child", "reference", str(raw), str(units),
                                       str(folder / "reference.duckdb")])
    if "kept" not in skip:
        result["kept"] = measure([sys.executable, __file__, "--child", "reference", str(raw), str(units),
                                  str(folder / "reference_kept.duckdb"), "--kept"])
    if "pandas" not in skip:
        result["pandas"] = measure([sys.executable, str(HERE / "pandas_baseline.py"), str(raw), str(units),
                                    str(folder / "pandas"), str(PANDAS_MEMORY_CAP)])
    if "polars" not in skip:
        result["polars"] = measure([sys.executable, str(HERE / "polars_baseline.py"), str(raw), str(units),
                                    str(folder / "polars")])
    if "floor" not in skip:
        result["floor"] = measure([sys.executable, __file__, "--child", "floor", str(raw), str(folder / "floor.duckdb")])
    if "reference" in result and "failed" not in result["reference"]:
        baselines = {name: folder / name for name in ("pandas", "polars")
                     if name in result and "failed" not in result[name]}
        if "kept" in result and "failed" not in result["kept"]:
            baselines["kept"] = folder / "reference_kept.duckdb"
        result["problems"] = compare(Path(env["JINGTU_WAREHOUSE"]), folder / "reference.duckdb", baselines)
    return result


def speed_line(results: list[dict]) -> list[str]:
    speeds = [f"{scale_label(r['scale'])}: " + " → ".join(f"{t:.1f} s" for t in r["python_seconds"])
              for r in results if "python_seconds" in r]
    return [f"- Machine speed, 20 M additions in plain Python before and after each scale's runs: {'; '.join(speeds)}."
            ] if speeds else []


def scale_label(scale: str) -> str:
    return f"{scale}×" if scale.isdigit() else scale


def _ratio(numerator: dict | None, denominator: dict | None, key: str, fmt: str) -> str:
    if not numerator or not denominator:
        return "not run"
    if "failed" in numerator or "failed" in denominator:
        return "failed"
    return format(numerator[key] / denominator[key], fmt)


def report(results: list[dict]) -> str:
    lines = ["# Pipeline benchmark", "", f"Machine: {machine()}.", f"Run: {', '.join(sorted({r.get('run_at', '?') for r in results}))} UTC.",
             "", "- (a) pipeline: `jingtu materialize` through Dagster: ingest, quality checks, dbt (every",
             "  mart and the monthly warnings), publication. Stage seconds are sums of Dagster step durations.",
             "  The full run has every year but December 2018's hotline export; the incremental run adds it",
             "  and re-runs 2018 (where no incremental run is listed, the full run has every file); then",
             "  `jingtu materialize` runs once more with nothing new (its wall time, Python's start included).",
             "- (b) reference: `bench/reference.sql`, one DuckDB script from the raw files to the evaluation",
             "  and the daily hotline counts (GB18030 files transcoded first, timed).",
             "- (c) pandas: `bench/pandas_baseline.py`, the same two results the straightforward pandas way,",
             f"  under a {PANDAS_MEMORY_CAP / 2**30:.0f} GiB address-space cap.",
             "- (d) Polars: `bench/polars_baseline.py`, the same two results with Polars' lazy API on its",
             "  streaming engine (GB18030 files transcoded first, timed).",
             "- (e) floor: every raw file read into DuckDB tables with detected types, no rule applied (a value",
             "  that does not convert skips its row; GB18030 files transcoded first, timed): what reading",
             "  the data costs at the least.",
             "- (f) the reference script keeping every ticket as the warehouse must: in a table of its output",
             "  file with its file's name, the caller phone HMAC-hashed and the free text masked by the",
             "  loader's SQL (no reasons for rejected rows, no line numbers): a fair peer for (a).",
             "- Peak RSS is the largest resident set of the process and of any of its children (for (a),",
             "  dbt runs inside the process).",
             "- Peak disk: the warehouse folder (database, DuckDB's spill files, serving copy, GX results),",
             "  sampled every second; the transcoded copy of the GB18030 file being read (in /tmp) is not counted.",
             *speed_line(results),
             "- DuckDB memory limit (`JINGTU_DUCKDB_MEMORY_LIMIT`): "
             + "; ".join(f"{scale_label(r['scale'])}: {r['memory_limit']}" for r in results) + ".",
             "- rows/s: the raw rows the run read (all sources, all years; for the incremental run, the",
             "  new month's) over its wall time.", ""]
    lines += [("| scale | run | wall (s) | ingest (s) | checks (s) | dbt (s) | publish (s) | rows/s "
              "| peak RSS (MiB) | peak disk (GiB) |"),
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    labels = {"full": "(a) pipeline, all years", "incremental": "add 2018-12, re-run 2018",
              "unchanged": "nothing new: `jingtu materialize` again",
              "reference": "(b) DuckDB reference script", "pandas": "(c) pandas", "polars": "(d) Polars",
              "floor": "(e) floor: read every file, no rules",
              "kept": "(f) DuckDB script keeping every ticket, hashed and masked"}
    for r in results:
        every_row = (r.get("incremental") or r["full"]).get("rows", 0)  # all raw rows, December's included
        for name, label in labels.items():
            run = r.get(name)
            if run is None:
                continue
            if "failed" in run:
                peak = f"{run['peak_rss_mib']:.0f}" if "peak_rss_mib" in run else ""
                lines.append(f"| {scale_label(r['scale'])} | {label} | failed after {run['seconds']:.0f} s: {run['failed']} "
                             f"| | | | | | {peak} | |")
                continue
            s = run.get("stages", {})
            stages = " | ".join(f"{s[k]:.1f}" if k in s else "" for k in ("ingest", "checks", "dbt", "publish"))
            disk = f"{run['peak_disk_gib']:.2f}" if "peak_disk_gib" in run else ""
            rate = "" if name == "unchanged" else f"{run.get('rows_read_by_run', every_row) / run['seconds']:,.0f}"
            peak = f"{run['peak_rss_mib']:.0f}" if "peak_rss_mib" in run else ""
            lines.append(f"| {scale_label(r['scale'])} | {label} | {run['seconds']:.1f} | {stages} "
                         f"| {rate} | {peak} | {disk} |")
    lines += ["", "Rows per second per stage of (a), the raw rows over the stage's seconds:", "",
              "| scale | ingest | checks | dbt | publish |", "|---|---:|---:|---:|---:|"]
    for r in results:
        s, rows = r["full"].get("stages", {}), r["full"].get("rows", 0)
        lines.append(f"| {scale_label(r['scale'])} | " + " | ".join(f"{rows / s[k]:,.0f}" if s.get(k) else "—"
                                                     for k in ("ingest", "checks", "dbt", "publish")) + " |")
    spent = []
    for r in results:
        for name in ("full", "incremental"):
            run = r.get(name)
            if not run or "failed" in run or "steps" not in run:  # reports from before steps were kept
                continue
            in_steps = sum(run["steps"].values())
            longest = sorted(run["steps"].items(), key=lambda item: -item[1])[:5]
            spent.append(f"| {scale_label(r['scale'])} | {labels[name]} | {in_steps:.1f} | {run['seconds'] - in_steps:.1f} | "
                         + ", ".join(f"`{key}` {seconds:.1f}" for key, seconds in longest) + " |")
    if spent:
        lines += ["", "Where the wall time of (a)'s runs goes: in Dagster's steps, and outside them (Python's start,",
                  "the code location's import, Dagster's set-up and end of the run):", "",
                  "| scale | run | in steps (s) | outside steps (s) | the longest steps (s) |", "|---|---|---:|---:|---|",
                  *spent]
    lines += ["", ("| scale | raw data (GiB) | tickets | a / b (time) | c / a (time) | d / a (time) | a / e (time) "
                   "| a / f (time) | c / a (peak memory) | incremental / full | results agree |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        a, b, c, d, e, f, inc = (r["full"], r.get("reference"), r.get("pandas"), r.get("polars"), r.get("floor"),
                                 r.get("kept"), r.get("incremental"))
        tickets = (inc or a).get("tickets", 0)
        agree = "not compared" if "problems" not in r else "yes" if not r["problems"] else "; ".join(r["problems"])
        lines.append(f"| {scale_label(r['scale'])} | {r.get('raw_gib', 0):.1f} | {tickets:,} | {_ratio(a, b, 'seconds', '.1f')} "
                     f"| {_ratio(c, a, 'seconds', '.2f')} | {_ratio(d, a, 'seconds', '.2f')} | {_ratio(a, e, 'seconds', '.1f')} "
                     f"| {_ratio(a, f, 'seconds', '.1f')} "
                     f"| {_ratio(c, a, 'peak_rss_mib', '.2f')} | {_ratio(inc, a, 'seconds', '.0%')} | {agree} |")
    return "\n".join(lines + targets(results) + month_without_data(results)) + "\n"


def month_without_data(results: list[dict]) -> list[str]:
    """What a one-month run would cost with no new rows at all: the incremental runs of two scales
    (the same month, n tickets each) fitted to seconds = fixed + per_row × n, stage by stage, beside
    the largest scale's full run. The share it gives is the least a one-month run can be on this
    pipeline, whatever the loader's speed."""
    runs = [(r, r["incremental"]) for r in results
            if r.get("incremental") and "failed" not in r["incremental"] and r["incremental"].get("rows_read_by_run")]
    if len(runs) < 2:
        return []
    (small, low), (large, high) = runs[0], runs[-1]
    n_low, n_high = low["rows_read_by_run"], high["rows_read_by_run"]

    def fixed(seconds_low: float, seconds_high: float) -> float:
        return seconds_low - (seconds_high - seconds_low) / (n_high - n_low) * n_low

    def outside(run: dict) -> float:
        return run["seconds"] - sum(run.get("steps", {}).values())

    parts = [(stage, fixed(low["stages"].get(stage, 0.0), high["stages"].get(stage, 0.0)))
             for stage in ("ingest", "checks", "dbt", "publish")]
    parts.append(("outside the steps", fixed(outside(low), outside(high))))
    total = fixed(low["seconds"], high["seconds"])
    full = large["full"]["seconds"]
    heading = (f"A one-month run with no new row, from the incremental runs at {scale_label(small['scale'])}"
               f" ({n_low:,} new rows) and {scale_label(large['scale'])} ({n_high:,}) fitted to seconds = fixed +"
               " per row × rows, stage by stage:")
    verdict = (f"That is {total / full:.0%} of the {scale_label(large['scale'])} full run ({full:.1f} s): where a"
               " run's time grows in proportion to its rows, the least a one-month run takes on this pipeline"
               " however fast its steps read the month.")
    return ["", heading, "", "| | fixed (s) |", "|---|---:|",
            *(f"| {name} | {seconds:.1f} |" for name, seconds in parts),
            f"| **the run** | **{total:.1f}** |", "", verdict]


def targets(results: list[dict]) -> list[str]:
    """Issue 19's targets for the scales run, judged on their figures."""
    def seconds(result: dict, name: str) -> float | None:
        run = result.get(name)
        return run["seconds"] if run and "failed" not in run else None

    def ratio(result: dict, numerator: str, denominator: str) -> float | None:
        n, d = seconds(result, numerator), seconds(result, denominator)
        return n / d if n is not None and d else None

    def row(target: str, value: float | None, shown: str, met) -> str:
        verdict = "not measured" if value is None else "met" if met(value) else "not met"
        return f"| {target} | {'' if value is None else shown.format(value)} | {verdict} |"

    rows = []
    for r in results:
        scale = scale_label(r["scale"])
        if r["scale"] == "1":
            rows.append(row("1×: the full pipeline ≤ 30 s", seconds(r, "full"), "{:.1f} s", lambda v: v <= 30))
        if r["scale"] == "17":
            rows += [
                row("17×: ≤ 1.3× the DuckDB script (a / b)", ratio(r, "full", "reference"), "{:.2f}", lambda v: v <= 1.3),
                row("17×: ≥ 1.5× faster than pandas (c / a)", ratio(r, "pandas", "full"), "{:.2f}", lambda v: v >= 1.5),
                row("17×: not slower than Polars (d / a)", ratio(r, "polars", "full"), "{:.2f}", lambda v: v >= 1),
                row("17×: peak RSS < 2 GiB", r["full"].get("peak_rss_mib"), "{:.0f} MiB", lambda v: v < 2048),
                row("17×: a one-month run ≤ 10 % of a full run", ratio(r, "incremental", "full"), "{:.0%}",
                    lambda v: v <= 0.10)]
        if r["scale"] == "national":
            rows.append(row("national: the full pipeline ≤ 10 min", seconds(r, "full"), "{:.0f} s", lambda v: v <= 600))
        if "incremental" in r:
            rows.append(row(f"{scale}: a run with nothing new ≤ 5 s", seconds(r, "unchanged"), "{:.2f} s",
                            lambda v: v <= 5))
    return ["", "Targets (issue 19), judged on the figures above:", "", "| target | here | |", "|---|---:|---|", *rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,17", help=f"comma-separated, of {', '.join(SCALES)}")
    parser.add_argument("--skip", default="", help="comma-separated runs to leave out: incremental, reference, kept, pandas, polars, floor")
    parser.add_argument("--report-only", action="store_true", help="rewrite the Markdown from the saved JSON")
    args = parser.parse_args()
    name = "pipeline" if "national" not in args.scales else "national"
    if args.report_only:
        results = json.loads((HERE / "results" / f"{name}.json").read_text())
        (HERE / "results" / f"{name}.md").write_text(report(results))
        return
    results = []
    for scale in args.scales.split(","):
        before = python_speed()
        results.append(bench_scale(scale, set(filter(None, args.skip.split(",")))))
        results[-1]["python_seconds"] = [before, python_speed()]
        (HERE / "results" / f"{name}.json").write_text(json.dumps(results, indent=1))  # kept if a later scale fails
        (HERE / "results" / f"{name}.md").write_text(report(results))
        print(report(results), flush=True)
        if "failed" in results[-1]["full"]:
            raise SystemExit(f"the pipeline failed at scale {scale}: {results[-1]['full']['failed']}")


if __name__ == "__main__":
    if sys.argv[1:3] == ["--child", "reference"]:
        reference_child(*(Path(a) for a in sys.argv[3:6]), kept="--kept" in sys.argv[6:])
    elif sys.argv[1:3] == ["--child", "floor"]:
        floor_child(*(Path(a) for a in sys.argv[3:5]))
    elif sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
