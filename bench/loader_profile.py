"""Where the loader's time goes: one hotline year (10 M tickets at 17×, from bench/work/scale_17,
which `pipeline_bench.py --scales 17` generates) loaded into a fresh warehouse, each step of
`orchestration.ingest.PartitionLoader` timed, beside the floor: the same files read into a table
with the personal data hashed and masked and no rule applied.

    python bench/loader_profile.py [--scale 17]

Writes bench/results/loader.md.
"""

import argparse
import functools
import json
import resource
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from ingest_bench import machine, python_speed

STEPS = {  # PartitionLoader method -> the step it is
    "_read_files": "read ahead, in a thread: sniff the encoding, check the header, count lines (a UTF-8 file that fits)"
                   " or slice into memory (GB18030 transcoded), scanning for NUL and checksumming",
    "__next__": "wait for the slice being read ahead",
    "_stage": "read, parse, apply the row rules, hash and mask, stage in memory (a slice at a time)",
    "_renumber_lines": "renumber records that span lines",
    "_finish_file": "finish a file: its checksum, check the year folder",
    "_copy_staged": "copy the staged rows into the warehouse, pending",
    "_reject_duplicates": "find and reject duplicate keys",
    "_settle": "settle: the pending rows take their year (one transaction)",
}


def timed(owner, name: str, totals: dict) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapper)


def timed_generator(owner, name: str, totals: dict) -> None:
    """The time spent making each item of the generator method `name`, summed."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        items = original(*args, **kwargs)
        try:
            while True:
                started = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    totals[name] = totals.get(name, 0.0) + time.perf_counter() - started
                yield item
        finally:
            items.close()

    setattr(owner, name, wrapper)


def loader_child(raw: Path, database: Path) -> None:
    from orchestration import ingest
    from orchestration.contracts import SOURCES
    from orchestration.lib.duck import connect
    from orchestration.lib.read_ahead import ReadAhead

    totals: dict[str, float] = {}
    timed_generator(ingest.PartitionLoader, "_read_files", totals)
    timed(ReadAhead, "__next__", totals)
    for name in ("_stage", "_renumber_lines", "_finish_file", "_copy_staged", "_reject_duplicates", "_settle"):
        timed(ingest.PartitionLoader, name, totals)
    from orchestration.settings import units_file

    # a sample of more units than Leshan's lists them beside its sources (`jingtu generate --scale`)
    units = raw / "units.csv" if (raw / "units.csv").exists() else units_file()
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    with connect(database) as con:
        report = ingest.ingest(con, SOURCES["hotline"], 2018, raw, units, "bench-salt")
    print(json.dumps({"seconds_inside": time.perf_counter() - started, "steps": totals, "rows": report.rows_read,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def floor_child(raw: Path, database: Path, cheap_hash: bool = False) -> None:
    """Every file read as text as the loader reads it (its read_csv call, GB18030 through its
    in-memory copy), the caller phone hashed and the free text masked as the loader does, nothing else.
    With `cheap_hash`, DuckDB's non-cryptographic hash() of the phone's digits stands in for their HMAC:
    what the HMAC costs, without writing a phone in clear."""
    from orchestration import ingest
    from orchestration.contracts import SOURCES
    from orchestration.lib import pii
    from orchestration.lib.duck import connect
    from orchestration.lib.read_ahead import ReadAhead

    if cheap_hash:  # the digits as `pii.hash_sql` takes them, hashed by hash() instead
        pii.hash_sql = lambda v: f"hash({pii.digits_sql(v)})::varchar"

    contract = SOURCES["hotline"]
    columns = ", ".join(ingest._text_expression(c, "csv") for c in contract.stored_columns)
    # stored as the loader stores them (`SourceContract.compression`), as text
    definitions = ", ".join(f"{c.warehouse_name}__text varchar{contract.compression(c)}" for c in contract.stored_columns)
    ingest.count_lines = lambda path, digest=None: None  # no line numbers: a file read where it is is not counted
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    with connect(database) as con:
        loader = ingest.PartitionLoader(con, contract, [], "bench-salt")
        def slices(paths, slice_bytes):  # read ahead, as the loader reads
            for path in paths:
                encoding, headers = ingest.sniff_encoding(path)
                for part in ingest.csv_slices(path, encoding, slice_bytes):
                    yield headers, part

        paths = sorted((raw / "hotline" / "2018").glob("*.csv"))
        con.execute(f"create table floor ({definitions})")
        with (pii.caller_keys(con, loader.salt),
              closing(ReadAhead(slices(paths, loader._slice_bytes()), release=lambda item: item[1].close())) as parts):
            for headers, part in parts:
                with closing(part):
                    source, _, _ = loader._source(part.readable, "csv", headers, part.line_shift)
                    con.execute(f"insert into floor select {columns} from {source}")
        (rows,) = con.execute("select count(*) from floor").fetchone()
    print(json.dumps({"seconds_inside": time.perf_counter() - started, "rows": rows,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, raw: Path, database: Path) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(raw), str(database)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="17")
    args = parser.parse_args()
    folder = HERE / "work" / f"scale_{args.scale}"
    raw = folder / "raw"
    if not any((raw / "hotline" / "2018").glob("*.csv")):
        raise SystemExit(f"no hotline files under {raw}: run `python bench/pipeline_bench.py --scales {args.scale}` first")
    speed = [python_speed()]
    floor = measure("floor", raw, folder / "loader_floor.duckdb")
    cheap = measure("floor_cheap_hash", raw, folder / "loader_floor.duckdb")
    loader = measure("loader", raw, folder / "loader_profile.duckdb")
    speed.append(python_speed())
    steps = loader["steps"]
    rows = [(STEPS["__next__"], steps.get("__next__", 0))]
    rows.append((STEPS["_stage"], steps.get("_stage", 0) - steps.get("_renumber_lines", 0)))  # which it calls
    rows += [(STEPS[name], steps.get(name, 0)) for name in ("_renumber_lines", "_finish_file", "_copy_staged",
                                                           "_reject_duplicates")]
    rows.append((STEPS["_settle"], steps.get("_settle", 0) - steps.get("_reject_duplicates", 0)))  # which it calls
    accounted = sum(seconds for _, seconds in rows)
    rows.append(("the rest (plan, staging table, counts, clean-up)", loader["seconds_inside"] - accounted))
    lines = ["# Loader profile", "", f"Machine: {machine()}.", f"Run: {time.strftime('%Y-%m-%d %H:%M')} UTC.",
             f"Machine speed, 20 M additions in plain Python before and after: {speed[0]:.1f} s → {speed[1]:.1f} s.", "",
             (f"The hotline year 2018 at {args.scale}× ({loader['rows']:,} rows in {len(list((raw / 'hotline' / '2018').glob('*.csv')))}"
             " files, a third of them GB18030), loaded by `orchestration.ingest` into a fresh warehouse."),
             "The floor reads the same files as the loader does (read ahead in a thread, GB18030 via the same in-memory copy), hashing and",
             "masking the personal data,",
             "with no rule, no line numbers, no duplicate search and no staging table (the rows go straight into their table).", "",
             "| step | seconds | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {seconds:.1f} | {seconds / loader['seconds_inside']:.0%} |" for name, seconds in rows]
    lines += [f"| **loader, in all** | **{loader['seconds_inside']:.1f}** | |",
              f"| {STEPS['_read_files']}: work done meanwhile | {steps.get('_read_files', 0):.1f} | |",
              f"| floor: read, hash and mask only | {floor['seconds_inside']:.1f} | |",
              f"| the floor with DuckDB's hash() in place of the HMAC | {cheap['seconds_inside']:.1f} | |", "",
              (f"Loader / floor: {loader['seconds_inside'] / floor['seconds_inside']:.2f}. "
              f"Peak RSS: loader {loader['peak_rss_mib']:.0f} MiB, floor {floor['peak_rss_mib']:.0f} MiB. "
              f"The HMAC of the caller phones (polars-hash, called by DuckDB a vector at a time) costs "
              f"{floor['seconds_inside'] - cheap['seconds_inside']:.1f} s of the floor's "
              f"{floor['seconds_inside']:.1f} s.")]
    (HERE / "results" / "loader.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        {"loader": loader_child, "floor": floor_child, "floor_cheap_hash": functools.partial(floor_child, cheap_hash=True)
         }[sys.argv[2]](Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
