"""What encrypting DuckDB's spill files costs (`orchestration.lib.duck.encrypt_spills`): a temporary
table of 20 million rows (~1.2 GiB) built and read under a 200 MB memory limit, so that most of it is
spilled, with and without the encryption, alternating, three rounds each.

    python bench/spill_bench.py

Writes bench/results/spill.md.
"""

import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_bench import WORK, heading, python_speed

ROWS = 20_000_000
LIMIT = "200MB"
FOLDER = WORK / "spill"


def measure(encrypted: bool) -> tuple[float, int]:
    """(seconds to build and read the table, bytes spilled)."""
    import duckdb

    from orchestration.lib.duck import encrypt_spills

    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    with duckdb.connect(str(FOLDER / "spill.duckdb")) as con:
        con.execute(f"set memory_limit = '{LIMIT}'")
        if encrypted:
            encrypt_spills(con)
        started = time.perf_counter()
        con.execute(f"create temp table held as select md5(i::varchar) || ' 王伟 ' || i as line from range({ROWS}) as r(i)")
        con.execute("select count(*), max(line) from held").fetchone()
        seconds = time.perf_counter() - started
        spilled = sum(path.stat().st_size for path in (FOLDER / "spill.duckdb.tmp").iterdir())
    shutil.rmtree(FOLDER)
    return seconds, spilled


def main() -> None:
    speed = [python_speed()]
    runs: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
    for _ in range(3):
        for encrypted in (False, True):
            runs[encrypted].append(measure(encrypted))
            print(f"encrypted={encrypted}: {runs[encrypted][-1][0]:.2f} s", flush=True)
    speed.append(python_speed())
    median = {encrypted: statistics.median(s for s, _ in rows) for encrypted, rows in runs.items()}
    lines = [*heading("Encrypted spill files", ".", speed), "",
             f"A temporary table of {ROWS:,} rows built and read under a {LIMIT} memory limit, alternating.", "",
             "| spill files | seconds (each round) | median | spilled (MiB) |", "|---|---|---:|---:|"]
    for encrypted, rows in runs.items():
        lines.append(f"| {'encrypted' if encrypted else 'in clear'} | {', '.join(f'{s:.2f}' for s, _ in rows)}"
                     f" | {median[encrypted]:.2f} | {max(b for _, b in rows) / 2**20:,.0f} |")
    lines += ["", f"Median encrypted / in clear: {median[True] / median[False]:.2f}."]
    (HERE / "results" / "spill.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
