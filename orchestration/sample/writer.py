"""Writing generated rows as the source systems export them: Chinese headers, their encodings, .xlsx."""

import codecs
import csv
import io
from pathlib import Path

import duckdb

from orchestration.contracts import SourceContract
from orchestration.lib.duck import sql_literal

CHUNK = 1 << 24


def _as_headers(contract: SourceContract, query: str) -> str:
    columns = ", ".join(f'{c.name} as "{c.header}"' for c in contract.columns)
    return f"select {columns} from ({query})"


def write_export(con: duckdb.DuckDBPyConnection, contract: SourceContract, query: str, path: Path,
                 encoding: str = "utf-8-sig", bad_rows: list[dict] | None = None) -> int:
    """Write the rows of `query` (canonical column names) to `path`; how many it wrote.

    `encoding` is 'utf-8', 'utf-8-sig' (with BOM), 'gb18030' or 'xlsx'. DuckDB streams the rows to
    disk; `bad_rows` (canonical names, deliberately broken) are appended at the end, not counted.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    query = f"select {', '.join(c.name for c in contract.columns)} from ({query})"
    if encoding == "xlsx":
        if bad_rows:
            query = " union all ".join([f"({query})"] + [_literal_row(contract, r) for r in bad_rows])
        (written,) = con.execute(f"copy ({_as_headers(contract, query)}) to {sql_literal(path)} (format xlsx, header true)"
                                 ).fetchone()
        return written - len(bad_rows or [])
    staging = path.with_name(path.name + ".utf8.tmp")
    (written,) = con.execute(f"copy ({_as_headers(contract, query)}) to {sql_literal(staging)} (format csv, header true)"
                             ).fetchone()
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoder = codecs.getincrementalencoder(encoding)()
    with staging.open("rb") as source, path.open("wb") as target:
        while chunk := source.read(CHUNK):
            target.write(encoder.encode(decoder.decode(chunk)))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(
            [[row.get(c.name, "") for c in contract.columns] for row in bad_rows or []])
        target.write(encoder.encode(decoder.decode(b"", final=True) + text.getvalue(), final=True))
    staging.unlink()
    return written


def _literal_row(contract: SourceContract, row: dict) -> str:
    def literal(value) -> str:
        return "null" if value in (None, "") else "'" + str(value).replace("'", "''") + "'"
    return "select " + ", ".join(f"{literal(row.get(c.name))} as {c.name}" for c in contract.columns)
