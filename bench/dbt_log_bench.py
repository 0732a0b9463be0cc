"""What dbt's own loggers cost a build: `dbt build` of every model and test on the 1× pipeline
benchmark's warehouse, in turn with dbt's loggers on (its terminal and dbt.log at info level, as the
dbt steps ran it before) and off with `orchestration.dbt.log_lines` writing the same lines (as they
run it now), eight rounds, the order swapped every round. Both write what dbt's terminal shows; the
loggers also format every event their level then drops.

    python bench/dbt_log_bench.py      (after bench/pipeline_bench.py --scales 1)

Writes bench/results/dbt_log.md.
"""

import contextlib
import io
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_bench import WORK, heading, python_speed

SOURCE = WORK / "scale_1" / "warehouse" / "jingtu.duckdb"  # left by the pipeline benchmark at 1×
FOLDER = WORK / "dbt_log"
ROUNDS = 8
WAYS = ("dbt's loggers", "log_lines")


def build(way: str, common: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, lines written) of one `dbt build` the `way` given."""
    from orchestration.dbt import LOG_OFF, invoke_dbt, log_lines

    shown = io.StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(shown), (FOLDER / "lines.log").open("w", encoding="utf-8") as log:
        if way == "log_lines":
            outcome = invoke_dbt(["build", *LOG_OFF, *common], callbacks=[log_lines(log)],
                                 warehouse=FOLDER / "jingtu.duckdb")
        else:
            outcome = invoke_dbt(["build", "--log-level-file", "info", *common], warehouse=FOLDER / "jingtu.duckdb")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not outcome.success:
        raise SystemExit(f"dbt build failed ({way}):\n{shown.getvalue()[-2000:]}")
    return wall, cpu, len(shown.getvalue().splitlines())


def main() -> None:
    if not SOURCE.exists():
        raise SystemExit(f"{SOURCE} is missing: run bench/pipeline_bench.py --scales 1 first")
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    shutil.copyfile(SOURCE, FOLDER / "jingtu.duckdb")
    os.environ["DBT_TARGET_PATH"] = str(FOLDER / "target")  # the project's own parse left alone
    from orchestration.dbt import DBT_PROJECT_DIR

    common = ["--no-write-json", "--no-use-colors", "--log-path", str(FOLDER), "--project-dir", str(DBT_PROJECT_DIR),
              "--profiles-dir", str(DBT_PROJECT_DIR)]
    speed = [python_speed()]
    build(WAYS[0], common)  # the parse and the first invocation's imports, for neither
    runs: dict[str, list[tuple[float, float, int]]] = {way: [] for way in WAYS}
    for round_ in range(ROUNDS):
        for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
            runs[way].append(build(way, common))
            print(f"{way}: {runs[way][-1][0]:.2f} s", flush=True)
    speed.append(python_speed())
    shutil.rmtree(FOLDER)
    mean = {way: (statistics.mean(w for w, _, _ in rows), statistics.mean(c for _, c, _ in rows)) for way, rows in runs.items()}
    faster = sum(b[0] < a[0] for a, b in zip(*runs.values()))
    lines = [*heading("dbt's loggers", ".", speed), "",
             f"`dbt build` of every model and test on the 1× warehouse, {ROUNDS} rounds, the order swapped every round.", "",
             "| way | wall seconds (each round) | mean wall | mean CPU | lines shown |", "|---|---|---:|---:|---:|"]
    for way, rows in runs.items():
        lines.append(f"| {way} | {', '.join(f'{w:.2f}' for w, _, _ in rows)} | {mean[way][0]:.2f} | {mean[way][1]:.2f}"
                     f" | {rows[-1][2]} |")
    ratio = [mean[WAYS[1]][i] / mean[WAYS[0]][i] for i in (0, 1)]
    lines += ["", f"log_lines / dbt's loggers: wall {ratio[0]:.2f}, CPU {ratio[1]:.2f}; faster in {faster} of {ROUNDS} rounds."]
    (HERE / "results" / "dbt_log.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
