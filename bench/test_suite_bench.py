"""How long `make test` takes on a clean clone, as CI runs it: the committed tree cloned into a
temporary folder, then `.ci/run` (the virtual environment installed, the browser if missing, pytest on
two workers). pytest is also asked, through PYTEST_ADDOPTS, for every test's duration and worker, so
that the report shows how busy each worker was and which files cost most: the order in which
tests/conftest.py hands out the files (SLOW_FIRST) is refreshed from it. The CPU seconds of every
process the run started say how busy the cores were: when both are, more workers would not help.

    python bench/test_suite_bench.py

Writes bench/results/test_suite.md.
"""

import collections
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_bench import heading, python_speed

TARGET_SECONDS = 6 * 60
SLOWEST = 20


def per_test(log: str) -> dict[str, float]:
    """Seconds per test (its setup, call and teardown)."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for duration, test in re.findall(r"^([\d.]+)s (?:call|setup|teardown)\s+(tests/\S+)", log, re.MULTILINE):
        seconds[test] += float(duration)
    return seconds


def per_file(tests: dict[str, float], log: str) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds per test file and the worker that ran it."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for test, spent in tests.items():
        seconds[test.split("::")[0]] += spent
    workers = {test.split("::")[0]: worker
               for worker, test in re.findall(r"\[(gw\d+)\] \[\s*\d+%\] \w+ (tests/\S+)", log)}
    return seconds, workers


def cpu_seconds_of_children() -> float:
    """User and system seconds of this process's children that have ended, and of theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                            text=True, check=True).stdout.strip()
    speed = [python_speed()]
    with tempfile.TemporaryDirectory(prefix="jingtu-ci-") as folder:
        clone = Path(folder) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(HERE.parent), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
        env.update(CI="true", PYTEST_ADDOPTS="-v --durations=0")
        started, cpu_before = time.perf_counter(), cpu_seconds_of_children()
        run = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env, capture_output=True, text=True, check=False)
        wall, cpu = time.perf_counter() - started, cpu_seconds_of_children() - cpu_before
    speed.append(python_speed())
    log = run.stdout + run.stderr
    summary = re.findall(r"=+ (\d+ passed.*?) in ([\d.]+)s", log)
    if run.returncode != 0 or not summary:
        raise SystemExit(f".ci/run failed (exit {run.returncode}):\n{log[-3000:]}")
    outcome, pytest_seconds = summary[-1][0], float(summary[-1][1])
    tests = per_test(log)
    seconds, workers = per_file(tests, log)
    busy = collections.defaultdict(float)
    for name, spent in seconds.items():
        busy[workers.get(name, "?")] += spent
    lines = [*heading("The test suite on a clean clone", f", commit `{commit}`.", speed), "",
             "| what | seconds |", "|---|---:|",
             f"| `.ci/run` in all (clone excluded; install, browser check and pytest) | {wall:.1f} |",
             f"| pytest ({outcome}) | {pytest_seconds:.1f} |",
             f"| target | {TARGET_SECONDS} |", "",
             (f"CPU seconds of `.ci/run` and every process it started (user and system): {cpu:.0f}; on"
              f" average {cpu / wall:.2f} of the machine's {os.cpu_count()} cores busy."), "",
             "Busy seconds per worker (the sum of its tests' durations): "
             + ", ".join(f"{w} {s:.1f}" for w, s in sorted(busy.items())) + ".", "",
             "| test file | seconds | worker |", "|---|---:|---|"]
    lines += [f"| `{name}` | {spent:.1f} | {workers.get(name, '?')} |"
              for name, spent in sorted(seconds.items(), key=lambda item: -item[1])]
    lines += ["", f"The {SLOWEST} slowest tests:", "", "| test | seconds |", "|---|---:|"]
    lines += [f"| `{test}` | {spent:.1f} |" for test, spent in sorted(tests.items(), key=lambda item: -item[1])[:SLOWEST]]
    (HERE / "results" / "test_suite.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
