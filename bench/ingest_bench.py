"""Ingest and validation benchmark: wall time and peak memory of loading the default sample and a
10-million-ticket hotline year, then of validating what was loaded with the Great Expectations
suites (the raw checks, with Data Docs, as the pipeline runs them). Each measurement runs in a child
process so its peak RSS is its own.

    python bench/ingest_bench.py [--tickets 10000000] [--skip-large]

Writes bench/results/ingest.md. Generated data goes to bench/work/ (not committed).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
BASE_TICKETS = 428_115  # hotline tickets of the default sample (2018)


def measure(*args: str) -> dict:
    """Run this script as a child with `args`; return its JSON answer plus wall time and peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    output = child.stdout.read()
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    result = json.loads(output.strip().splitlines()[-1])
    result.update(seconds=time.perf_counter() - started, peak_rss_mib=usage.ru_maxrss / 1024)
    return result


def child(args: list[str]) -> None:
    from orchestration.contracts import SOURCES
    from orchestration.ingest import configured_units, ingest
    from orchestration.lib.duck import connect
    from orchestration.sample import generate, hotline, plan
    from orchestration.settings import units_file

    command, root = args[0], Path(args[1])
    if command == "generate":
        generate(root, progress=lambda _: None)
        print(json.dumps({}))
    elif command == "generate-hotline":
        hotline.generate(root, plan.units(), 2018, float(args[2]), progress=lambda _: None)
        print(json.dumps({"bytes": sum(p.stat().st_size for p in root.rglob("*.csv"))}))
    elif command == "ingest":
        database, sources = Path(args[2]), args[3].split(",")
        database.unlink(missing_ok=True)
        rows = 0
        with connect(database) as con:
            for source in sources:
                for year in plan.YEARS:
                    rows += ingest(con, SOURCES[source], year, root, units_file(), "bench-salt").rows_read
        print(json.dumps({"rows": rows, "database_mib": database.stat().st_size / 2**20}))
    elif command == "validate":
        os.environ["JINGTU_QUALITY"] = str(WORK / "quality")
        from orchestration.quality.validate import validate

        database, sources = Path(args[2]), args[3].split(",")
        with connect() as con:
            units = configured_units(con, units_file())
        started, rows = time.perf_counter(), 0
        for source in sources:
            for year in plan.YEARS:
                results = validate(database, [f"raw_{source}", f"raw_{source}_files"], [year], units,
                                   f"bench_{source}_{year}")
                failed = [(r.suite, f.rule) for r in results for f in r.failures]
                if failed:
                    raise SystemExit(f"{source} {year} failed validation: {failed}")
                rows += results[0].rows or 0
        print(json.dumps({"rows": rows, "inside_seconds": time.perf_counter() - started}))


def machine() -> str:
    import duckdb
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 2**20
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}")


def python_speed() -> float:
    """Seconds for 20 M additions in plain Python: the machine's speed at the moment. A shared VM's
    changes from one hour to the next, so it is reported beside the timings it may explain."""
    started, total = time.perf_counter(), 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - started


def heading(title: str, run: str, speeds: Sequence[float]) -> list[str]:
    """A results file's first lines: what ran (`run` follows the time), on what machine, at what speed."""
    return [f"# {title}", "", f"Machine: {machine()}.", f"Run: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC{run}",
            f"Machine speed, 20 M additions in plain Python before and after: {speeds[0]:.2f} s → {speeds[1]:.2f} s."]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000_000)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    rows = []
    default_raw = WORK / "default_raw"
    if not any(default_raw.glob("*/*")):
        rows.append(("generate default sample", measure("generate", str(default_raw))))
    all_sources = "hotline,cases,inspections,surveys,development"
    rows.append(("ingest default sample (5 sources × 4 years)",
                 measure("ingest", str(default_raw), str(WORK / "default.duckdb"), all_sources)))
    rows.append(("validate default sample (10 raw suites × 4 years)",
                 measure("validate", str(default_raw), str(WORK / "default.duckdb"), all_sources)))
    if not args.skip_large:
        large_raw = WORK / f"hotline_{args.tickets}"
        if not any(large_raw.glob("*/*")):
            rows.append((f"generate hotline year of {args.tickets:,} tickets",
                         measure("generate-hotline", str(large_raw), str(args.tickets / BASE_TICKETS))))
        rows.append((f"ingest hotline year of {args.tickets:,} tickets",
                     measure("ingest", str(large_raw), str(WORK / "large.duckdb"), "hotline")))
        rows.append((f"validate hotline year of {args.tickets:,} tickets",
                     measure("validate", str(large_raw), str(WORK / "large.duckdb"), "hotline")))
    lines = ["# Ingest and validation benchmark", "", f"Machine: {machine()}.",
             f"Run: {time.strftime('%Y-%m-%d %H:%M')} UTC.", "",
             "Validation time is the child's wall time, including about 4 s to import Great Expectations;",
             "in brackets the time inside `validate()`. The ratio compares validation to the ingest above it.", "",
             "| step | wall time (s) | peak RSS (MiB) | rows | rows/s | validation / ingest |",
             "|---|---:|---:|---:|---:|---:|"]
    ingest_seconds = None
    for name, r in rows:
        n = r.get("rows")
        rate = f"{n / r['seconds']:,.0f}" if n else ""
        wall = f"{r['seconds']:.1f}"
        ratio = ""
        if name.startswith("ingest"):
            ingest_seconds = r["seconds"]
        elif name.startswith("validate"):
            wall += f" ({r['inside_seconds']:.1f})"
            ratio = f"{r['seconds'] / ingest_seconds:.0%}"
        lines.append(f"| {name} | {wall} | {r['peak_rss_mib']:.0f} | {n or ''} | {rate} | {ratio} |")
    out = HERE / "results" / "ingest.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
