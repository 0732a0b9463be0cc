"""A/B of two revisions in one sitting: `jingtu materialize --force` with each in turn, on the same data.

    python bench/ab_bench.py BEFORE AFTER [--scale 1] [--rounds 4]      (make bench-ab A=… B=…)

The machine's speed drifts by 20 % from one hour to the next, so a change worth a few per cent shows
only beside its baseline run minutes apart. Each revision gets a git worktree with its own virtual
environment (bench/work/ab/<commit>/, made once), its own warehouse and Dagster instance; the data is
the pipeline benchmark's (bench/work/scale_<S>/raw, made by bench/pipeline_bench.py), the revisions
alternating round by round. The first round loads every file and is reported alone; later rounds
find the files loaded and repeat checks, dbt and publication (the loader's own A/B is
bench/loader_profile.py). Writes bench/results/ab.md.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import machine, python_speed
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


def report(scale: str, commits: list[str], rounds: dict[str, list[dict]], speeds: tuple[float, float]) -> str:
    def row(label: str, commit: str, runs: list[dict]) -> str:
        cells = [f"{statistics.median(r[k] for r in runs):.1f}" for k in ("wall", *STAGES)]
        return f"| {label} | {commit} | {len(runs)} | " + " | ".join(cells) + " |"

    lines = ["# A/B of two revisions", "",
             f"Machine: {machine()}.",
             (f"Run: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, at scale {scale}×"
              f" (bench/work/scale_{scale}/raw), the revisions alternating."),
             f"Machine speed, 20 M additions in plain Python before and after: {speeds[0]:.2f} s → {speeds[1]:.2f} s.",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--scale", default="1", choices=["1", "17"])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    raw = WORK / f"scale_{args.scale}" / "raw"
    if not any(raw.glob("*/*")):
        raise SystemExit(f"no data in {raw}: run bench/pipeline_bench.py --scales {args.scale} first")
    trees = dict(checkout(revision) for revision in (args.before, args.after))
    commits = list(trees)
    rounds: dict[str, list[dict]] = {commit: [] for commit in commits}
    envs = {}
    for commit, tree in trees.items():
        work = WORK / "ab" / f"runs_{args.scale}_{commit}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "dagster").mkdir(parents=True)
        shutil.copyfile(tree / "dagster.yaml", work / "dagster" / "dagster.yaml")
        env = {name: value for name, value in os.environ.items() if name != "DBT_TARGET_PATH"}
        envs[commit] = {**env, "JINGTU_RAW": str(raw), "JINGTU_PII_SALT": SALT, "DAGSTER_HOME": str(work / "dagster"),
                        "JINGTU_WAREHOUSE": str(work / "warehouse" / "jingtu.duckdb"),
                        **({"JINGTU_UNITS": str(raw / "units.csv")} if (raw / "units.csv").exists() else {})}
    before_speed = python_speed()
    for number in range(1, args.rounds + 1):
        for commit in commits:
            result = run_once(trees[commit], envs[commit])
            rounds[commit].append(result)
            print(f"round {number}/{args.rounds} {commit}: {result['wall']:.1f} s (dbt {result['dbt']:.1f} s)",
                  flush=True)
    text = report(args.scale, commits, rounds, (before_speed, python_speed()))
    (ROOT / "bench" / "results" / "ab.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
