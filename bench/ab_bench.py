"""A/B of two revisions in one sitting: `jingtu materialize --force` with each in turn, on the same data.

    python bench/ab_bench.py BEFORE AFTER [--scale 1] [--rounds 4]      (make bench-ab A=… B=…)
    python bench/ab_bench.py BEFORE AFTER --loader [--scale 17]        (make bench-ab-loader A=… B=…)
    python bench/ab_bench.py BEFORE AFTER --checks [--scale 17]        (make bench-ab-checks A=… B=…)

The machine's speed drifts by 20 % from one hour to the next, so a change worth a few per cent shows
only beside its baseline run minutes apart. Each revision gets a git worktree with its own virtual
environment (bench/work/ab/<commit>/, made once), its own warehouse and Dagster instance; the data is
the pipeline benchmark's (bench/work/scale_<S>/raw, made by bench/pipeline_bench.py), the revisions
alternating round by round. The first round loads every file and is reported alone; later rounds
find the files loaded and repeat checks, dbt and publication. Writes bench/results/ab.md.

With --loader, each round loads the hotline year 2018 into a fresh warehouse with each revision's
loader alone (its bench/loader_profile.py child, which times the loader's steps), the revisions
alternating: bench/results/ab_loader.md.

With --checks, each round validates every raw suite of every year in the pipeline benchmark's
warehouse (bench/work/scale_<S>/warehouse, copied for each revision) with each revision's
`orchestration.quality.validate` alone, once to warm up and then timed: bench/results/ab_checks_<S>x.md.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import heading, python_speed
from pipeline_bench import SALT, WORK, stage_of

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "checks", "dbt", "publish")
# the step durations of the instance's latest run, read by the revision's own Python
STEP_STATS = ("from dagster import DagsterInstance; import json; i = DagsterInstance.get();"
              " r = i.get_runs(limit=1)[0]; print(json.dumps({s.step_key: s.end_time - s.start_time"
              " for s in i.get_run_step_stats(r.run_id)}))")


def checkout(revision: str) -> tuple[str, Path]:
    """The revision's short commit and its worktree, with a virtual environment, made once."""
    commit = subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    tree = WORK / "ab" / commit
    if not tree.exists():
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)  # after `make clean`
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), commit], cwd=ROOT, check=True)
    if not (tree / ".venv" / ".installed").exists():
        print(f"{commit}: installing its virtual environment …", flush=True)
        subprocess.run(["make", "-s", ".venv/.installed"], cwd=tree, check=True, capture_output=True)
    return commit, tree


def run_once(tree: Path, env: dict) -> dict[str, float]:
    """One `jingtu materialize --force`: its wall seconds and each stage's (Dagster's step times)."""
    started = time.perf_counter()
    done = subprocess.run([tree / ".venv" / "bin" / "jingtu", "materialize", "--force"], env=env, cwd=tree,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: jingtu materialize failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    steps = json.loads(subprocess.run([tree / ".venv" / "bin" / "python", "-c", STEP_STATS], env=env, cwd=tree,
                                      capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    stages = dict.fromkeys(STAGES, 0.0)
    for step, seconds in steps.items():
        stages[stage_of(step)] += seconds
    return {"wall": wall, **stages}


def alternate(trees: dict[str, Path], rounds_wanted: int, once: Callable[[str, Path], dict],
              said: Callable[[dict], str]) -> tuple[dict[str, list[dict]], tuple[float, float]]:
    """`once(commit, tree)` for each revision in turn, round by round: the results by commit, and the
    machine's speed before and after."""
    rounds: dict[str, list[dict]] = {commit: [] for commit in trees}
    before = python_speed()
    for number in range(1, rounds_wanted + 1):
        for commit, tree in trees.items():
            result = once(commit, tree)
            rounds[commit].append(result)
            print(f"round {number}/{rounds_wanted} {commit}: {said(result)}", flush=True)
    return rounds, (before, python_speed())


def write(name: str, text: str) -> None:
    (ROOT / "bench" / "results" / name).write_text(text)
    print(text)


def report(scale: str, commits: list[str], rounds: dict[str, list[dict]], speeds: tuple[float, float]) -> str:
    def row(label: str, commit: str, runs: list[dict]) -> str:
        cells = [f"{statistics.median(r[k] for r in runs):.1f}" for k in ("wall", *STAGES)]
        return f"| {label} | {commit} | {len(runs)} | " + " | ".join(cells) + " |"

    lines = [*heading("A/B of two revisions", f", at scale {scale}× (bench/work/scale_{scale}/raw), the revisions"
                                                 " alternating.", speeds),
             "", "`jingtu materialize --force`, median seconds; stages are sums of Dagster's step times.", "",
             "| run | revision | runs | wall | ingest | checks | dbt | publish |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for commit in commits:
        lines.append(row("first: every file loaded", commit, rounds[commit][:1]))
    for commit in commits:
        if len(rounds[commit]) > 1:
            lines.append(row("again: files already loaded", commit, rounds[commit][1:]))
    lines += ["", "Every run:", ""]
    lines += [f"- {commit}: " + "; ".join(f"{r['wall']:.1f} (dbt {r['dbt']:.1f})" for r in rounds[commit])
              for commit in commits]
    return "\n".join(lines) + "\n"


LOADER_STEPS = {"_stage": "read, rules, hash and mask, staged", "_copy_staged": "copied into the warehouse",
                "_reject_duplicates": "duplicates"}


def load_once(tree: Path, raw: Path, database: Path) -> dict:
    """The revision's loader alone on the hotline year 2018, into a fresh warehouse: its seconds,
    its steps' and its peak RSS (see bench/loader_profile.py)."""
    done = subprocess.run([tree / ".venv" / "bin" / "python", "bench/loader_profile.py", "--child", "loader",
                           str(raw), str(database)], cwd=tree, capture_output=True, text=True, check=False)
    database.unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: the loader failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"loader": result["seconds_inside"], **{step: result["steps"].get(step, 0.0) for step in LOADER_STEPS},
            "rss": result["peak_rss_mib"]}


def loader_report(scale: str, commits: list[str], rounds: dict[str, list[dict]], speeds: tuple[float, float]) -> str:
    keys = ("loader", *LOADER_STEPS, "rss")
    lines = [*heading("A/B of two revisions' loaders", f": the hotline year 2018 at scale {scale}×"
                      f" (bench/work/scale_{scale}/raw) loaded into a fresh warehouse by each revision's loader in"
                      " turn.", speeds),
             "", "Median seconds (peak RSS in MiB) of the loader and of its steps (bench/loader_profile.py).", "",
             "| revision | runs | loader | " + " | ".join(LOADER_STEPS.values()) + " | peak RSS |",
             "|---|---:|" + "---:|" * (len(keys))]
    for commit in commits:
        cells = [f"{statistics.median(r[k] for r in rounds[commit]):.{0 if k == 'rss' else 1}f}" for k in keys]
        lines.append(f"| {commit} | {len(rounds[commit])} | " + " | ".join(cells) + " |")
    lines += ["", "Every run (loader; copy):", ""]
    lines += [f"- {commit}: " + "; ".join(f"{r['loader']:.1f} ({r['_copy_staged']:.1f})" for r in rounds[commit])
              for commit in commits]
    return "\n".join(lines) + "\n"


# Run by a revision's own Python in its worktree: every raw suite of every loaded year validated once
# to warm up, then timed `sys.argv[2]` times.
CHECKS_CHILD = """
import json, sys, time
from pathlib import Path
from orchestration.contracts import SOURCES
from orchestration.ingest import configured_units
from orchestration.lib.duck import connect
from orchestration.quality.validate import validate
from orchestration.settings import units_file
database, runs = Path(sys.argv[1]), int(sys.argv[2])
with connect(database, read_only=True) as con:
    years = [y for (y,) in con.execute("select distinct partition_year from raw.load_files order by 1").fetchall()]
    units = configured_units(con, units_file())
suites = [suite for source in sorted(SOURCES) for suite in (f"raw_{source}", f"raw_{source}_files")]
seconds = []
for run in range(runs + 1):
    started = time.perf_counter()
    results = validate(database, suites, years, units, "ab")
    seconds.append(time.perf_counter() - started)
    assert all(result.success for result in results), [r.failures for r in results if not r.success]
print(json.dumps(seconds[1:]))
"""


def checks_once(tree: Path, env: dict, runs: int) -> list[float]:
    """The seconds of `runs` validations of every raw suite by the revision's own code."""
    done = subprocess.run([tree / ".venv" / "bin" / "python", "-c", CHECKS_CHILD, env["JINGTU_WAREHOUSE"], str(runs)],
                          env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree.name}: the checks failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def checks_report(scale: str, commits: list[str], rounds: dict[str, list[list[float]]],
                  speeds: tuple[float, float]) -> str:
    lines = [*heading("A/B of two revisions' raw checks", f": every raw suite of every year of the pipeline"
                      f" benchmark's warehouse at scale {scale}× (bench/work/scale_{scale}/warehouse), validated by"
                      " each revision's `orchestration.quality.validate` in turn.", speeds),
             "", "Seconds of one validation of every suite (each round warms up first, then times its runs).", "",
             "| revision | runs | median | fastest | slowest |", "|---|---:|---:|---:|---:|"]
    for commit in commits:
        runs = [seconds for round_ in rounds[commit] for seconds in round_]
        lines.append(f"| {commit} | {len(runs)} | {statistics.median(runs):.2f} | {min(runs):.2f} | {max(runs):.2f} |")
    lines += ["", "Every run, round by round:", ""]
    lines += [f"- {commit}: " + "; ".join(", ".join(f"{s:.2f}" for s in round_) for round_ in rounds[commit])
              for commit in commits]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--scale", choices=["1", "17"], help="1 (17 with --loader)")
    parser.add_argument("--rounds", type=int, help="4 (3 with --loader or --checks)")
    parser.add_argument("--loader", action="store_true", help="the loaders alone, on the hotline year 2018")
    parser.add_argument("--checks", action="store_true", help="the raw checks alone, on the benchmark's warehouse")
    args = parser.parse_args()
    scale = args.scale or ("17" if args.loader else "1")
    rounds_wanted = args.rounds or (3 if args.loader or args.checks else 4)
    raw = WORK / f"scale_{scale}" / "raw"
    if not any(raw.glob("*/*")):
        raise SystemExit(f"no data in {raw}: run bench/pipeline_bench.py --scales {scale} first")
    trees = dict(checkout(revision) for revision in (args.before, args.after))
    commits = list(trees)
    if args.loader:
        rounds, speeds = alternate(trees, rounds_wanted,
                                   lambda commit, tree: load_once(tree, raw, WORK / "ab" / f"loader_{commit}.duckdb"),
                                   lambda result: f"loader {result['loader']:.1f} s")
        write("ab_loader.md", loader_report(scale, commits, rounds, speeds))
        return
    if args.checks:
        warehouse = WORK / f"scale_{scale}" / "warehouse" / "jingtu.duckdb"
        if not warehouse.exists():
            raise SystemExit(f"no warehouse at {warehouse}: run bench/pipeline_bench.py --scales {scale} first")
        env = {name: value for name, value in os.environ.items() if name != "DBT_TARGET_PATH"}
        envs = {}
        for commit in trees:
            copy = WORK / "ab" / f"checks_{scale}_{commit}" / "jingtu.duckdb"  # its quality report beside it
            shutil.rmtree(copy.parent, ignore_errors=True)
            copy.parent.mkdir(parents=True)
            shutil.copyfile(warehouse, copy)
            envs[commit] = {**env, "JINGTU_WAREHOUSE": str(copy),
                            **({"JINGTU_UNITS": str(raw / "units.csv")} if (raw / "units.csv").exists() else {})}
        rounds, speeds = alternate(trees, rounds_wanted, lambda commit, tree: checks_once(tree, envs[commit], 2),
                                   lambda result: ", ".join(f"{s:.2f} s" for s in result))
        write(f"ab_checks_{scale}x.md", checks_report(scale, commits, rounds, speeds))
        return
    envs = {}
    for commit, tree in trees.items():
        work = WORK / "ab" / f"runs_{scale}_{commit}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "dagster").mkdir(parents=True)
        shutil.copyfile(tree / "dagster.yaml", work / "dagster" / "dagster.yaml")
        env = {name: value for name, value in os.environ.items() if name != "DBT_TARGET_PATH"}
        envs[commit] = {**env, "JINGTU_RAW": str(raw), "JINGTU_PII_SALT": SALT, "DAGSTER_HOME": str(work / "dagster"),
                        "JINGTU_WAREHOUSE": str(work / "warehouse" / "jingtu.duckdb"),
                        **({"JINGTU_UNITS": str(raw / "units.csv")} if (raw / "units.csv").exists() else {})}
    rounds, speeds = alternate(trees, rounds_wanted, lambda commit, tree: run_once(tree, envs[commit]),
                               lambda result: f"{result['wall']:.1f} s (dbt {result['dbt']:.1f} s)")
    write("ab.md", report(scale, commits, rounds, speeds))


if __name__ == "__main__":
    main()
