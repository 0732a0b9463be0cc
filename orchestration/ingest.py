"""Loading one source-year partition of `raw/` into the warehouse's `raw.*` tables.

Every input row ends in exactly one place: `raw.<source>` or `raw.rejects` (with file, line and
reason). A file that cannot be read fails the whole partition and the warehouse keeps its previous
state. Each file is read, in slices that fit in memory, into a staging table with every row's
verdict, and its rows are copied from there into `raw.<source>` and `raw.rejects` under the negated
year: a load in progress is pending, and what reads a year never sees it. One short transaction at
the end settles the duplicates, drops the partition's previous rows and gives the pending rows their
year; a load that fails has its pending rows deleted, and a load killed outright leaves them to the
next load of the source, which deletes them first.

A load costs what changed. Files already loaded are recognised by size and modification time
(recorded in `raw.load_files`): new files sorting after them (the next month's export) are read and
appended; nothing new means nothing to do; anything else (a file changed, removed or arriving out of
order, or different rules, units or salt) reloads the partition whole.
"""

import codecs
import csv
import hashlib
import html
import io
import os
import re
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.contracts import (
    LINEAGE_COLUMNS,
    MUNICIPAL_CODE,
    PARSERS,
    TYPE_HINTS,
    Column,
    SourceContract,
)
from orchestration.lib import pii
from orchestration.lib.duck import load_excel_extension, memory_limit_bytes, sql_literal
from orchestration.lib.read_ahead import ReadAhead

SNIFF_BYTES = 1 << 20
# Small enough that the read-ahead thread, whose decoding holds Python's lock, lets the loader's
# DuckDB threads into the caller-key function (`pii.caller_keys`) often.
READ_CHUNK = 1 << 20
# A staged row's line in its file (the header is line 1): see _stage.
LINE = "rowid + line_offset"


class SourceFileError(Exception):
    """A file of a partition cannot be loaded at all; the message names the file and the problem.
    Nothing read from the file reaches the message in clear (see `pii.mask`)."""

    def __init__(self, path: Path, problem: str):
        problem = pii.mask(problem)
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class WarehouseWriteError(Exception):
    """The warehouse could not be written (a full disk, memory): not the input file's fault."""


# What a statement reading a file raises when the file is at fault. DuckDB quotes the line it fails on
# cut at 10,000 bytes, which may split a character in two: its Python client then cannot decode the
# message and raises UnicodeDecodeError, which holds the message's bytes (`duckdb_reason` reads them).
READ_ERRORS = (duckdb.Error, UnicodeDecodeError)


def duckdb_reason(error: Exception) -> str:
    """DuckDB's explanation of `error` (one of `READ_ERRORS`) without the input it echoes, its advice or
    its settings ("CSV Error on Line: 3; Expected Number of Columns: 12 Found: 11"), personal data
    masked. A CSV error quotes the offending record (which may span lines) between its first line and
    its reason: only the reason, DuckDB's own words in ASCII, is kept after it."""
    text = error.object.decode("utf-8", "replace") if isinstance(error, UnicodeDecodeError) else str(error)
    lines = text.strip().split("Possible fixes")[0].strip().splitlines()
    if any(line.startswith("Original Line") for line in lines):
        reason = lines[-1].strip() if len(lines) > 2 and lines[-1].isascii() else ""
        lines = [lines[0], reason]
    return pii.mask("; ".join(line.strip() for line in lines if line.strip()))


def _is_storage_failure(error: Exception) -> bool:
    text = str(error)
    return isinstance(error, duckdb.OutOfMemoryException) or any(
        words in text for words in ("No space left on device", "Disk quota exceeded", "Read-only file system"))


@dataclass
class FileReport:
    path: str
    file_format: str
    encoding: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    ignored_headers: list[str] = field(default_factory=list)
    fingerprint: tuple[int, int] = (0, 0)  # (bytes, modification time in ns) when read
    sha256: str = ""  # of the file's bytes as read: what a publication records it came from


@dataclass
class _FileRead:
    """A file being loaded: its report, its header and its checksum, complete once its last slice is out."""
    path: Path
    report: FileReport
    digest: "hashlib._Hash"
    headers: list[str] | None = None  # a workbook's are read when its rows are (`_workbook_headers`)
    row_years: Counter = field(default_factory=Counter)


@dataclass
class LoadReport:
    source: str
    year: int
    load_id: str | None  # None when nothing changed
    files: list[FileReport]  # the files read by this load
    mode: str = "full"  # full (the partition replaced), append (new files added) or unchanged
    files_kept: int = 0  # files loaded earlier and left as they are
    files_gone: list[tuple[str, int]] = field(default_factory=list)  # loaded earlier, no longer there: (name, rows)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)


def sniff_encoding(path: Path) -> tuple[str, list[str]]:
    """('utf-8' or 'gb18030', header) judged from the first MiB; anything else fails."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceFileError(path, "unknown encoding: UTF-16 (expected UTF-8 or GB18030)")
    if b"\x00" in head:
        raise SourceFileError(path, "not a text table: the file contains NUL bytes")
    for encoding in ("utf-8", "gb18030"):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))), [])
        return encoding, [h.strip() for h in header]
    raise SourceFileError(path, "unknown encoding: neither UTF-8 nor GB18030")


def count_lines(path: Path, digest=None) -> int:
    """The physical lines of a text file; refuses one with a NUL byte anywhere (the first MiB is
    checked by `sniff_encoding`). Bytes only: no rows are held in Python. `digest` (a hashlib object),
    if given, is fed the same bytes, so that the file's checksum costs no second read."""
    lines, last = 0, b"\n"
    for chunk in _checked_chunks(path, digest):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    return lines + (last != b"\n")


def _checked_chunks(path: Path, digest=None) -> Iterator[bytes]:
    """The file's bytes a chunk at a time, each fed to `digest` (if given) and refused if it holds a
    NUL byte. The error names the NUL's line, counted then: an error is rare, reading is not."""
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            if digest is not None:
                digest.update(chunk)
            if (nul := chunk.find(b"\0")) >= 0:
                line = _newlines_before(path, offset + nul) + 1
                raise SourceFileError(path, f"not a text table: NUL byte at line {line} (byte {offset + nul})")
            yield chunk
            offset += len(chunk)


def _newlines_before(path: Path, end: int) -> int:
    newlines = 0
    with path.open("rb") as f:
        while end > 0 and (block := f.read(min(READ_CHUNK, end))):
            newlines, end = newlines + block.count(b"\n"), end - len(block)
    return newlines


@dataclass
class CsvSlice:
    """Part of a CSV file as DuckDB reads it, in UTF-8, behind the file's header (or a workbook, whole).
    Whoever reads it closes it, which frees its in-memory copy, if any."""
    readable: str  # the file itself, or an in-memory copy (/proc/self/fd/…)
    line_shift: int  # the file's line of the slice's line 1 (its header), less 1: the lines before it
    lines: int | None  # its physical lines, header included; None: not known (a workbook's rows are not lines)
    copy: "_SliceCopy | None" = None

    def close(self) -> None:
        if self.copy is not None:
            self.copy.remove()


def _utf8_chunks(path: Path, encoding: str, digest=None) -> Iterator[bytes]:
    """The file's bytes in UTF-8, a chunk at a time (GB18030 transcoded by Python's codec, far faster
    than DuckDB's encodings extension), checked and digested as read (`_checked_chunks`)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in _checked_chunks(path, digest):
            # A chunk of UTF-8 may end inside a character: harmless, as slices are cut at line ends.
            yield chunk if encoding == "utf-8" else decoder.decode(chunk).encode("utf-8")
        if encoding != "utf-8":
            yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceFileError(path, f"unknown encoding: not valid {encoding} past the first MiB ({error})") from None


def _record_end(chunk: bytes, quotes_before: int, limit: int) -> int:
    """The offset just past the last line end of `chunk` before `limit` that ends a record, else the
    first one past it; 0 if none. A line end ends a record when an even number of quote characters
    precede it (`quotes_before` of them precede the chunk)."""
    def inside_quotes(end: int) -> bool:
        return (quotes_before + chunk.count(b'"', 0, end)) % 2 == 1

    end = chunk.rfind(b"\n", 0, limit)
    while end >= 0 and inside_quotes(end):
        end = chunk.rfind(b"\n", 0, end)
    if end < 0:
        end = chunk.find(b"\n", limit)
        while end >= 0 and inside_quotes(end):
            end = chunk.find(b"\n", end + 1)
    return end + 1


def csv_slices(path: Path, encoding: str, slice_bytes: int, digest=None) -> Iterator[CsvSlice]:
    """The file in slices of about `slice_bytes` each, cut between records, each behind a copy of the
    header: a file read whole would be staged whole, and a staging table larger than DuckDB's memory
    spills (bench/results/national.md). A UTF-8 file that fits is read where it is, once its lines
    are counted (`count_lines`); anything else through copies held in memory (`_SliceCopy`), each
    freed when its slice is closed (or, not yet handed out, when this generator is), counted as
    copied. Either way the file is read once before DuckDB reads it, refused if it holds a NUL byte,
    and fed to `digest`. Nothing is ever written to disk, so a killed load leaves no copy of the
    file's personal data behind."""
    if encoding == "utf-8" and path.stat().st_size <= slice_bytes:
        yield CsvSlice(str(path), 0, count_lines(path, digest))
        return
    header, shift, copy = None, 0, None
    try:
        for chunk in _utf8_chunks(path, encoding, digest):
            if header is None:  # the first chunk
                header = chunk[:_record_end(chunk, 0, 0)]  # empty: a file of one line is one slice
                chunk = chunk[len(header):]
            if copy is None:
                copy = _SliceCopy(header)
            while header and copy.size + len(chunk) >= slice_bytes and (
                    cut := _record_end(chunk, copy.quotes, slice_bytes - copy.size)):
                copy.write(chunk[:cut])
                part, shift, copy = copy.finished(shift), shift + copy.newlines, None
                yield part
                copy, chunk = _SliceCopy(header), chunk[cut:]
            copy.write(chunk)
        if copy is not None and (copy.size or not shift):  # a header alone is a slice of no rows
            part, copy = copy.finished(shift), None
            yield part
    finally:
        if copy is not None:
            copy.remove()


class _SliceCopy:
    """One slice's copy, the header first, in an anonymous memory file (Linux's memfd): DuckDB reads it
    natively by its /proc/self/fd path, in parallel and without calling back into Python, and the
    memory is freed when the copy is removed or the process ends, however it ends."""

    def __init__(self, header: bytes):
        self.header = header
        self.file = os.fdopen(os.memfd_create("jingtu-ingest-slice"), "wb")
        self.file.write(header)
        self.size = self.quotes = self.newlines = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        if data:
            self.file.write(data)
            self.size, self.last = self.size + len(data), data[-1:]
            self.quotes += data.count(b'"')
            self.newlines += data.count(b"\n")

    def finished(self, line_shift: int) -> CsvSlice:
        """The slice, which now owns the copy."""
        self.file.flush()
        return CsvSlice(f"/proc/self/fd/{self.file.fileno()}", line_shift,
                        self.header.count(b"\n") + self.newlines + (self.size > 0 and self.last != b"\n"), self)

    def remove(self) -> None:
        self.file.close()


def xlsx_sheets(path: Path) -> list[str]:
    """The sheet names of a workbook, in order, from its xl/workbook.xml."""
    try:
        with zipfile.ZipFile(path) as book:
            workbook = book.read("xl/workbook.xml").decode("utf-8")
    except (zipfile.BadZipFile, KeyError) as error:
        raise SourceFileError(path, f"cannot be read as xlsx: {error}") from None
    return [html.unescape(name) for name in re.findall(r'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"', workbook)]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _text_expression(column: Column, file_format: str) -> str:
    """SQL turning the file's cell into the canonical text value (PII already removed)."""
    v = _quote(column.header)
    if not column.pii:  # stray blanks around codes and dates are forgiven; free text is kept as is
        v = f"nullif({_trimmed(v, column)}, '')"
    if file_format == "xlsx":
        # Excel stores dates as serial day numbers and integers as floats ('12.0').
        if column.type in ("date", "timestamp"):
            fmt = "%Y-%m-%d" if column.type == "date" else "%Y-%m-%d %H:%M:%S"
            v = (f"case when regexp_full_match({v}, '[0-9]+(\\.[0-9]+)?') then strftime(timestamp '1899-12-30'"
                 f" + to_microseconds(round({v}::double * 86400000000)::bigint), '{fmt}') else {v} end")
        elif column.type in ("integer", "decimal"):
            v = f"regexp_replace({v}, '^(-?[0-9]+)\\.0+$', '\\1')"
    if column.default is not None:
        v = f"coalesce({v}, '{column.default}')"
    if column.pii == "hash":
        v = pii.hash_sql(v)
    elif column.pii == "mask":
        v = pii.mask_sql(v)
    return f"{v} as {column.warehouse_name}__text"


def _trimmed(value: str, column: Column) -> str:
    """SQL: the text `value` without the blanks around it, as DuckDB's trim() strips them (Unicode's
    space separators). trim() decodes every character of every value; a value of ASCII characters with
    no space at either end is its own trim, and testing that is cheaper. Where the values come from a
    list of labels that are not ASCII (Chinese categories), the test would only add to trim()."""
    if column.allowed and not all(label.isascii() for label in column.allowed):
        return f"trim({value})"
    return (f"case when strlen({value}) = length({value}) and not starts_with({value}, ' ')"
            f" and not ends_with({value}, ' ') then {value} else trim({value}) end")


def _typed_expression(column: Column) -> str:
    """SQL turning `<name>__text` into the typed value (null when it does not parse)."""
    text = f"{column.warehouse_name}__text"
    if column.codes:
        cases = " ".join(f"when '{label}' then {str(code).lower()}" for label, code in column.codes.items())
        return f"case {text} {cases} end"
    guard, cast = PARSERS[column.type]
    if guard is None:
        return text
    return f"case when {guard.format(v=text)} then {cast.format(v=text)} end"


def _sql_list(values) -> str:
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def _is_unit_sql(value: str, units: list[str]) -> str:
    """SQL: whether the text `value` is one of `units`. A cast to an ENUM of them finds it in a hash
    table, where list_contains reads the whole list for every row (2,800 units nationally). A
    scalar, not a join: a join would not keep the rows in the file's order (see `_stage`)."""
    if not units:
        return "false"
    return f"try_cast({value} as enum({', '.join(sql_literal(u) for u in sorted(set(units)))})) is not null"


@dataclass(frozen=True)
class Check:
    """A rule a staged row may break: SQL true when it does, and SQL of the reason then recorded."""
    broken: str
    reason: str

    def sql(self) -> str:
        """SQL yielding the reason when the row breaks the rule, else null."""
        return f"case when {self.broken} then {self.reason} end"


def _column_checks(contract: SourceContract, column: Column, units: list[str]) -> list[Check]:
    """One check per rule of the column. `<name>__text` is the value as read, `<name>` the typed value."""
    name, label = column.warehouse_name, column.label()
    text = f"{name}__text"
    shown = f"' || '\"' || {text} || '\"' || '"
    checks = []
    if column.required:
        checks.append(Check(f"{text} is null", f"'{label} is empty'"))
    if column.pii:
        return checks
    if column.allowed:
        checks.append(Check(f"not list_contains({_sql_list(column.allowed)}, {text})",
                            f"'{label} {shown} is not one of {'/'.join(column.allowed)}'"))
    elif column.type != "text":
        checks.append(Check(f"{text} is not null and {name} is null",
                            f"'{label} {shown} is not {TYPE_HINTS[column.type]}'"))
    for bound, op, words in ((column.minimum, "<", "below"), (column.maximum, ">", "above"),
                             (column.above, "<=", "not above")):
        if bound is not None:
            checks.append(Check(f"{name} {op} {bound}", f"'{label} {shown} is {words} {bound:g}'"))
    if column.county:
        checks.append(Check(f"{text} is not null and not {_is_unit_sql(text, units)}",
                            f"'{label} {shown} is not a configured unit'"))
    if column.past:
        checks.append(Check(f"{name} > now()::timestamp + interval 1 day", f"'{label} {shown} is in the future'"))
    if contract.typed_by_hand(column):  # the value is not shown: it is what must not be kept
        checks.append(Check(f"regexp_matches({text}, '{pii.PERSONAL_NUMBER}')",
                            f"'{label} holds an ID card, bank card or mobile number'"))
    return checks


def _record_sql(contract: SourceContract, value: Callable[[Column], str]) -> str:
    """SQL: a rejected row's values (`value` gives each column's text) as JSON, for raw.rejects. Eleven or
    more digits in any of them are masked (`pii.mask_sql`), as personal data typed into the wrong column
    must not be kept in clear, except in the caller key (a hash), the free text (masked already) and
    the row id (`SourceContract.is_row_id`), which people look up."""
    def shown(column: Column) -> str:
        text = value(column)
        return text if column.pii or contract.is_row_id(column) else pii.mask_sql(text)
    return "to_json({" + ", ".join(f"'{c.warehouse_name}': {shown(c)}" for c in contract.stored_columns) + "})"


class PartitionLoader:
    """Reads the files of one source-year folder and replaces that partition in the warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection, contract: SourceContract, units: list[str],
                 salt: str, progress: Callable[[str], None] | None = None):
        self.con = con
        self.progress = progress  # told of each file read: a year of hotline exports takes minutes nationally
        self.contract = contract
        self.units = list(units) + ([MUNICIPAL_CODE] if contract.allow_municipal else [])
        self.salt = salt
        self.column_checks = [check for c in contract.stored_columns for check in _column_checks(contract, c, self.units)]
        # What the stored rows depend on besides the files: a change reloads every partition. The column
        # checks as SQL, since some follow from code (`SourceContract.typed_by_hand`, `pii.PERSONAL_NUMBER`)
        # rather than from the contract's fields.
        rules = repr((contract, sorted(self.units), [check.sql() for check in self.column_checks], pii.MASKS,
                      pii.hash_sql("v"), pii.CALLER_KEY_METHOD, salt, _record_sql(contract, lambda c: c.warehouse_name),
                      pii.mask_sql("reason")))
        self.rules_digest = hashlib.sha256(rules.encode()).hexdigest()
        self.staged = f"temp.main.{contract.name}_checked"  # the slice being read, with each row's verdict

    # -- reading ---------------------------------------------------------------------------------

    def files(self, folder: Path, raw_root: Path) -> list[Path]:
        """The files of `folder`, in path order; a link leading out of `raw_root` is refused."""
        if not folder.is_dir():
            return []
        root = raw_root.resolve()
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        for path in files:
            if not path.resolve().is_relative_to(root):
                raise SourceFileError(path, "a link to a file outside the landing zone raw/ is refused")
            if path.suffix.lower().lstrip(".") not in self.contract.formats:
                expected = " or ".join("." + f for f in self.contract.formats)
                raise SourceFileError(path, f"unsupported file type '{path.suffix}' (expected {expected})")
        return files

    def _check_headers(self, path: Path, headers: list[str]) -> None:
        contract = self.contract
        known = {c.header for c in contract.columns}
        if not known & set(headers):  # the first line is data: never echo it
            raise SourceFileError(path, f"the first line is not a header: none of its {len(headers)} cells is a"
                                        f" column of {contract.title} (expected {', '.join(sorted(known))})")
        repeated = sorted({header or "(no name)" for header in headers if headers.count(header) > 1})
        if repeated:
            raise SourceFileError(path, f"the header names {', '.join(repeated)} more than once: which of the"
                                        " columns holds the values cannot be told")
        missing = [c.header for c in contract.columns if c.pii != "drop" and c.header not in headers]
        if missing:
            raise SourceFileError(path, f"missing required column(s) {', '.join(missing)}"
                                        f" (found: {', '.join(headers[:15])})")

    def _refuse_other_sheets(self, path: Path) -> None:
        """Only a workbook's first sheet is read: one with data on another sheet is refused."""
        sheets = xlsx_sheets(path)
        for sheet in sheets[1:]:
            try:
                (rows,) = self.con.execute(f"""
                    select count(*) from (select coalesce(*columns(*)) as cell from read_xlsx({sql_literal(path)},
                        sheet = {sql_literal(sheet)}, header = false, all_varchar = true, stop_at_empty = false))
                    where cell is not null""").fetchone()
            except duckdb.BinderException:  # "No rows found in xlsx file": an empty sheet
                continue
            if rows:
                raise SourceFileError(path, f"sheet '{sheet}' holds {rows} row(s) of data, but only the first sheet"
                                            f" ('{sheets[0]}') is read: move them into it or deliver them as a file"
                                            " of their own")

    def _source(self, readable: str, file_format: str, headers: list[str], line_shift: int) -> tuple[str, str, str]:
        """(FROM clause yielding the rows, the staged line_offset, ORDER BY) for a CSV slice or a workbook.
        A CSV's records are read as they come and numbered later (`_renumber_lines`) if need be. A
        workbook's wholly blank rows are skipped, each other row keeping its sheet row number."""
        if file_format == "csv":
            columns = ", ".join(f"{sql_literal(h)}: 'varchar'" for h in headers)
            call = (f"read_csv({sql_literal(readable)}, header = true, delim = ',', quote = '\"', escape = '\"',"
                    f" auto_detect = false,\n        columns = {{{columns}}})")
            return call, str(2 + line_shift), ""
        cells = ", ".join(_quote(h) for h in headers)
        call = (f"(\n        select * from (\n            select *, row_number() over () + 1 as sheet_row\n"
                f"            from read_xlsx({sql_literal(readable)}, header = true, all_varchar = true,"
                f" stop_at_empty = false)\n        )\n        where coalesce({cells}) is not null\n    )")
        return call, "sheet_row + 1 - row_number() over (order by sheet_row)", "order by sheet_row"

    def _renumber_lines(self, part: CsvSlice) -> None:
        """Give the staged rows of a CSV slice their physical line numbers in the file, where records
        and lines differ (a quoted value spanning lines, blank lines): a record starts on a non-blank
        line that follows an even number of quote characters."""
        # What each line says of records, not its text: a fraction of the memory, and no personal data.
        self.con.execute(f"""
            create or replace temp table _file_lines as
            select line is null as is_blank, coalesce(length(line) - length(replace(line, '"', '')), 0) as quotes
            from read_csv({sql_literal(part.readable)}, header = false, delim = {sql_literal(chr(1))}, quote = '',
                escape = '', auto_detect = false, strict_mode = false, columns = {{'line': 'varchar'}})""")
        self.con.execute("""
            create or replace temp table _record_lines as
            with numbered as (
                select rowid + 1 as line_number, is_blank, quotes from _file_lines
            ),
            opened as (
                select *, coalesce(sum(quotes) over (order by line_number rows between unbounded preceding
                    and 1 preceding), 0) % 2 = 1 as is_inside_quotes
                from numbered
            )
            select line_number, row_number() over (order by line_number) as record
            from opened where line_number > 1 and not is_blank and not is_inside_quotes""")
        self.con.execute(f"""
            update {self.staged} as s set line_offset = r.line_number + {part.line_shift} - s.rowid
            from _record_lines as r
            where s.rowid = r.record - 1;
            drop table _file_lines; drop table _record_lines""")

    def _slice_bytes(self) -> int:
        """How much of a CSV file is staged at a time: a quarter of DuckDB's memory limit, as a staged
        row takes about twice its bytes in the file. A month of hotline tickets is one slice even at 17×.
        The next slice is read meanwhile: two in-memory copies may exist at once, besides DuckDB's memory."""
        return memory_limit_bytes(self.con) // 4

    def _read_files(self, files: list[tuple[str, Path]], slice_bytes: int) -> Iterator[tuple["_FileRead", CsvSlice]]:
        """The slices of `files` ((name under raw/, path) in order), each with its file: the reading
        that needs no warehouse (encoding, header, checksum, transcoding), which `_load_files` runs
        ahead in a thread while DuckDB stages the slice before. A CSV is read slice by slice
        (`csv_slices`), a workbook whole; a file's checksum is complete once its last slice is out."""
        for name, path in files:
            fingerprint = _fingerprint(path)  # before reading: a file rewritten meanwhile is read again next time
            if path.stat().st_size == 0:
                raise SourceFileError(path, "the file is empty")
            if path.suffix.lower() == ".xlsx":
                with path.open("rb") as content:
                    digest = hashlib.file_digest(content, "sha256")
                report = FileReport(name, "xlsx", "xlsx", fingerprint=fingerprint)
                yield _FileRead(path, report, digest), CsvSlice(str(path), 0, None)
                continue
            encoding, headers = sniff_encoding(path)
            self._check_headers(path, headers)
            digest = hashlib.sha256()
            report = FileReport(name, "csv", encoding, fingerprint=fingerprint, ignored_headers=self._ignored(headers))
            file = _FileRead(path, report, digest, headers)
            for part in csv_slices(path, encoding, slice_bytes, digest):
                yield file, part

    def _ignored(self, headers: list[str]) -> list[str]:
        known = {c.header for c in self.contract.columns}
        return [pii.mask(h) for h in headers if h not in known]

    def _workbook_headers(self, path: Path) -> list[str]:
        """A workbook's header (its first sheet's, the only one allowed to hold data), checked."""
        load_excel_extension(self.con)  # once per connection; a no-op after
        self._refuse_other_sheets(path)
        try:
            headers = [d[0].strip() for d in self.con.execute(
                f"describe select * from read_xlsx({sql_literal(path)}, header = true, all_varchar = true)"
            ).fetchall()]
        except READ_ERRORS as error:
            raise SourceFileError(path, f"cannot be read as xlsx: {duckdb_reason(error)}") from None
        self._check_headers(path, headers)
        return headers

    def _load_files(self, files: list[tuple[str, Path]], year: int, loaded: str) -> list[FileReport]:
        """Read `files` and copy their rows into the warehouse, pending: slice by slice, each staged then
        copied (`_stage`, `_copy_staged`), the next slice read meanwhile (`_read_files`)."""
        done: list[_FileRead] = []

        def finish(file: _FileRead) -> None:
            self._finish_file(file, year)
            if self.progress:
                self.progress(f"{file.report.path}: {file.report.rows_read:,} rows read"
                              f" (file {len(done)} of {len(files)})")

        slices = ReadAhead(self._read_files(files, self._slice_bytes()), release=lambda item: item[1].close())
        with closing(slices):
            try:
                for file, part in slices:
                    with closing(part):
                        if not done or file is not done[-1]:  # the first slice of the next file
                            if done:
                                finish(done[-1])
                            done.append(file)
                        self._load_slice(file, part, year, loaded)
            except SourceFileError as error:
                if done and error.path != done[-1].path:  # a file read ahead: the one before it is checked first
                    self._finish_file(done[-1], year)
                raise
        if done:
            finish(done[-1])
        return [file.report for file in done]

    def _load_slice(self, file: "_FileRead", part: CsvSlice, year: int, loaded: str) -> None:
        """Stage a slice of `file` and copy its rows into the warehouse, pending."""
        if file.headers is None:  # a workbook's, read by DuckDB
            file.headers = self._workbook_headers(file.path)
            file.report.ignored_headers = self._ignored(file.headers)
        file.report.rows_read += self._stage(file.path, file.report, part, file.headers, year)
        file.row_years.update(dict(self.con.execute(
            f"select row_year, count(*) from {self.staged} group by all").fetchall()))
        self._copy_staged(-year, file.report, loaded)
        self.con.execute(f"drop table {self.staged}")

    def _finish_file(self, file: "_FileRead", year: int) -> None:
        file.report.sha256 = file.digest.hexdigest()  # the whole file read by now
        if file.report.rows_read == 0:
            raise SourceFileError(file.path, "the file has a header but no data rows")
        self._check_year_folder(file.path, year, file.row_years)

    def staging_sql(self, readable: str, file_format: str, headers: list[str], line_shift: int, year: int) -> str:
        """The statement reading a CSV slice (or a workbook) into the staging table, in the file's order:
        each row's values as read (phones hashed and numbers in free text masked as they are read;
        dropped columns left out), typed, and the reason the row is rejected (duplicates aside) with its
        values as read, long numbers masked in both (`_record_sql`). docs/loader/ holds it for every source
        and format."""
        contract = self.contract
        stored = contract.stored_columns
        checks = self.column_checks + [Check(r.violated, sql_literal(r.description)) for r in contract.row_rules]
        checks.append(Check(f"({contract.year_expression}) <> {year}",
                            f"'row year ' || ({contract.year_expression}) || ' is not the folder year {year}'"))
        source, line_offset, order = self._source(readable, file_format, headers, line_shift)
        extra = ["sheet_row"] if file_format == "xlsx" else []
        each, broken = ",\n        ".join, "\n        or ".join
        # Literals, not parameters (`sql_literal`).
        return f"""insert into {self.staged}
with incoming as (
    select
        {each([_text_expression(c, file_format) for c in stored] + extra)}
    from {source}
),
parsed as (
    select *,
        {each(f"{_typed_expression(c)} as {c.warehouse_name}" for c in stored)}
    from incoming
),
ruled as (
    -- the reasons are put together only for the rows that break a rule: few do
    select *, case when
        {broken(f"({check.broken})" for check in checks)}
    then nullif(concat_ws('; ',
        {each(check.sql() for check in checks)}
    ), '') end as reason
    from parsed
)
select {line_offset}, {", ".join(c.warehouse_name for c in stored)},
    {contract.year_expression}, {pii.mask_sql("reason")},
    case when reason is not null then {_record_sql(contract, lambda c: f"{c.warehouse_name}__text")} end
from ruled{f" {order}" if order else ""}
"""

    def _stage(self, path: Path, report: FileReport, part: CsvSlice, headers: list[str], year: int) -> int:
        """Read a CSV slice (or a workbook) into the staging table (`staging_sql`). The rows read."""
        typed = ", ".join(f"{c.warehouse_name} {c.sql_type}" for c in self.contract.stored_columns)
        # The staged rows keep the file's order, so a row's line is its rowid past the slice's first row.
        # `row_number() over ()` would say the same but confines the whole statement to one thread.
        self.con.execute(f"create or replace temp table {self.staged}"
                         f" (line_offset bigint, {typed}, row_year bigint, reason varchar, record json)")
        file_format = report.file_format
        try:
            (rows,) = self.con.execute(self.staging_sql(part.readable, file_format, headers, part.line_shift,
                                                        year)).fetchone()
            if part.lines is not None and part.lines != rows + 1:
                self._renumber_lines(part)
        except READ_ERRORS as error:  # `from None`: DuckDB's own text may quote the file's rows
            if _is_storage_failure(error):
                raise WarehouseWriteError(f"the warehouse could not be written while loading {report.path}:"
                                          f" {duckdb_reason(error)}") from None
            raise SourceFileError(path, f"cannot be read as {file_format} ({report.encoding}):"
                                        f" {duckdb_reason(error)}") from None
        return rows

    def _check_year_folder(self, path: Path, year: int, row_years: Counter) -> None:
        """A file most of whose rows belong to another year sits in the wrong folder."""
        dated = Counter({y: n for y, n in row_years.items() if y is not None})
        elsewhere = dated.total() - dated[year]
        if dated and elsewhere * 2 > dated.total():
            usual_year = dated.most_common(1)[0][0]
            raise SourceFileError(path, f"in the wrong year folder: {elsewhere} of {dated.total()} rows belong to"
                                        f" other years (mostly {usual_year}), not {year}")

    # -- writing ---------------------------------------------------------------------------------

    def _ensure_tables(self) -> None:
        columns = ", ".join([*(self.contract.definition(c) for c in self.contract.stored_columns),
                             *(f"{name} {definition}" for name, definition in LINEAGE_COLUMNS.items())])
        self.con.execute(f"""
            create schema if not exists raw;
            create table if not exists {self.contract.table} (partition_year integer, {columns});
            create table if not exists raw.rejects (
                source varchar, partition_year integer, source_file varchar, line_number bigint,
                reason varchar, record json, load_id varchar, loaded_at timestamp);
            create table if not exists raw.load_files (
                source varchar, partition_year integer, source_file varchar, file_format varchar,
                encoding varchar, rows_read bigint, rows_loaded bigint, rows_rejected bigint,
                load_id varchar, loaded_at timestamp);
            -- how a file and the rules were when it was loaded (added after the first release)
            alter table raw.load_files add column if not exists file_bytes bigint;
            alter table raw.load_files add column if not exists file_modified_ns bigint;
            alter table raw.load_files add column if not exists rules_digest varchar;
            alter table raw.load_files add column if not exists ignored_columns varchar[];
            alter table raw.load_files add column if not exists file_sha256 varchar;
        """)

    def _plan(self, year: int, files: dict[str, Path]) -> tuple[str, list[str]]:
        """(mode, names of the files to read): see the module's docstring."""
        loaded = {name: (size, modified, digest) for name, size, modified, digest in self.con.execute(
            "select source_file, file_bytes, file_modified_ns, rules_digest from raw.load_files"
            " where source = $source and partition_year = $year",
            {"source": self.contract.name, "year": year}).fetchall()}
        kept = [name for name, path in files.items()
                if loaded.get(name) == (*_fingerprint(path), self.rules_digest)]
        new = sorted(set(files) - set(loaded))
        if not files or not loaded or len(kept) != len(loaded) or (new and new[0] < max(loaded)):
            return "full", sorted(files)
        return ("append", new) if new else ("unchanged", [])

    def _copy_staged(self, pending: int, report: FileReport, loaded: str) -> None:
        """Copy the staged file's rows into the warehouse under partition `pending`: those that pass
        every rule into the source's table, the others into raw.rejects with their reasons."""
        contract = self.contract
        names = ", ".join(c.warehouse_name for c in contract.stored_columns)
        name = sql_literal(report.path)
        try:
            (loaded_rows,) = self.con.execute(f"""
                insert into {contract.table}
                select {pending}, {names}, {name}, {LINE}, {loaded} from {self.staged} where reason is null
            """).fetchone()
            (rejected_rows,) = self.con.execute(f"""
                insert into raw.rejects
                select {sql_literal(contract.name)}, {pending}, {name}, {LINE}, reason, record, {loaded}
                from {self.staged} where reason is not null
            """).fetchone()
            report.rows_loaded += loaded_rows
            report.rows_rejected += rejected_rows
        except duckdb.Error as error:
            if _is_storage_failure(error):
                raise WarehouseWriteError(f"the warehouse could not be written while loading {report.path}:"
                                          f" {duckdb_reason(error)}") from None
            raise

    def _reject_duplicates(self, year: int, mode: str, loaded: str) -> dict[str, int]:
        """Among the partition's rows (an append's files kept, then the pending ones), the first
        occurrence of a key (files in path order, then line order) stays and the later ones, all
        pending, move to raw.rejects (methodology §6). The rows moved, by file."""
        contract = self.contract
        keys = ", ".join(contract.key)
        in_partition = f"partition_year in ({year}, {-year})"
        # The rows kept by an append were settled without repeats: a repeated key has a pending row.
        pending_keys = "" if mode == "full" else (
            f" and hash({keys}) in (select hash({keys}) from {contract.table} where partition_year = {-year})")
        # Repeated keys are found among 64-bit hashes first: an aggregate of the national year's text
        # keys runs out of memory at the default limit, one of their hashes does not. Rare collisions
        # are settled by the keys.
        self.con.execute(f"""
            create or replace temp table _duplicates as
            with repeated_hashes as (
                select hash({keys}) as key_hash from {contract.table} where {in_partition}{pending_keys}
                group by key_hash having count(*) > 1
            ),
            repeated as (
                select {keys} from {contract.table}
                where {in_partition} and hash({keys}) in (select key_hash from repeated_hashes)
                group by all having count(*) > 1
            ),
            occurrences as (
                select t.*, row_number() over earliest as occurrence,
                    first_value(t.source_file) over earliest as first_file,
                    first_value(t.line_number) over earliest as first_line
                from {contract.table} as t inner join repeated as r on {" and ".join(f"t.{k} = r.{k}" for k in contract.key)}
                where t.{in_partition}
                window earliest as (partition by {", ".join(f"t.{k}" for k in contract.key)}
                                    order by t.source_file, t.line_number)
            )
            select * from occurrences where occurrence > 1
        """)
        moved = dict(self.con.execute("select source_file, count(*) from _duplicates group by all").fetchall())
        if moved:
            self.con.execute(f"""
                insert into raw.rejects
                select {sql_literal(contract.name)}, {-year}, source_file, line_number,
                    'duplicate {contract.key_label} (first at line ' || first_line || ' of ' || first_file || ')',
                    {_record_sql(contract, lambda c: f"{c.warehouse_name}::varchar")}, {loaded}
                from _duplicates;
                delete from {contract.table} as t using _duplicates as d
                where t.partition_year = {-year} and t.source_file = d.source_file and t.line_number = d.line_number
            """)
        return moved

    def _settle(self, year: int, mode: str, reports: list[FileReport], load_id: str, loaded: str) -> None:
        """In one transaction: the pending rows' duplicates rejected, the partition's previous rows
        deleted (a full load), the pending rows given their year, the files recorded."""
        contract = self.contract
        source = sql_literal(contract.name)
        self.con.execute("begin transaction")
        try:
            if mode == "full":
                self.con.execute(f"delete from {contract.table} where partition_year = {year}")
                for table in ("raw.rejects", "raw.load_files"):
                    self.con.execute(f"delete from {table} where source = {source} and partition_year = {year}")
            moved = self._reject_duplicates(year, mode, loaded)
            for report in reports:
                report.rows_loaded -= moved.get(report.path, 0)
                report.rows_rejected += moved.get(report.path, 0)
                if report.rows_loaded + report.rows_rejected != report.rows_read:  # a bug, never data
                    raise RuntimeError(f"{report.path}: {report.rows_read} rows read but {report.rows_loaded}"
                                       f" loaded + {report.rows_rejected} rejected")
            self.con.execute(f"update {contract.table} set partition_year = {year} where partition_year = {-year};"
                             f" update raw.rejects set partition_year = {year}"
                             f" where source = {source} and partition_year = {-year}")
            if reports:  # none when a year's files are all gone
                self.con.executemany(
                    "insert into raw.load_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?, ?, ?)",
                    [(contract.name, year, r.path, r.file_format, r.encoding, r.rows_read, r.rows_loaded,
                      r.rows_rejected, load_id, *r.fingerprint, self.rules_digest, r.ignored_headers, r.sha256)
                     for r in reports])
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise

    def _discard_pending(self, partitions: str) -> None:
        """Delete the pending rows of `partitions` (a SQL condition on partition_year)."""
        self.con.execute(f"delete from {self.contract.table} where {partitions};"
                         f" delete from raw.rejects where source = {sql_literal(self.contract.name)} and {partitions}")

    def load(self, folder: Path, year: int) -> LoadReport:
        """Load `folder` (raw/<source>/<year>) as partition `year`; raise SourceFileError if unreadable."""
        raw_root = folder.parent.parent
        files = {path.relative_to(raw_root).as_posix(): path for path in self.files(folder, raw_root)}
        self._ensure_tables()
        self._discard_pending("partition_year < 0")  # of a load killed outright
        mode, to_read = self._plan(year, files)
        kept = len(files) - len(to_read) if mode != "full" else 0
        if mode == "unchanged":
            return LoadReport(self.contract.name, year, None, [], mode, kept)
        gone = files_gone(self.con, raw_root, [year], self.contract.name)
        load_id = uuid.uuid4().hex
        (loaded_at,) = self.con.execute("select now()::timestamp::varchar").fetchone()
        loaded = f"{sql_literal(load_id)}, timestamp {sql_literal(loaded_at)}"
        try:
            # the caller-key function only for a source that hashes a column: it imports Polars
            hashes = any(column.pii == "hash" for column in self.contract.stored_columns)
            with pii.caller_keys(self.con, self.salt) if hashes else nullcontext():
                # in path order, which decides the first of two duplicates
                reports = self._load_files([(name, files[name]) for name in to_read], year, loaded)
            self._settle(year, mode, reports, load_id, loaded)
        except BaseException:
            self._discard_pending(f"partition_year = {-year}")
            raise
        finally:
            self.con.execute(f"drop table if exists {self.staged}; drop table if exists _duplicates")
        return LoadReport(self.contract.name, year, load_id, reports, mode, kept, gone)


def files_gone(con: duckdb.DuckDBPyConnection, raw_root: Path, years: list[int],
               source: str | None = None) -> list[tuple[str, int]]:
    """(name under raw/, rows loaded from it) of each file loaded into a partition of `years` (of
    `source`, or of any) that is no longer under `raw_root`: the next load of its partition removes
    those rows, as raw/ is what the warehouse holds."""
    (recorded,) = con.execute("select count(*) from duckdb_tables() where database_name = current_database()"
                              " and schema_name = 'raw' and table_name = 'load_files'").fetchone()
    if not recorded:
        return []
    # Literals, not parameters: DuckDB's Python client imports pandas for a process's first query with
    # parameters, which `jingtu materialize` with nothing new would wait for.
    in_years = ", ".join(str(int(year)) for year in years) or "null"
    of_source = "" if source is None else f" and source = {sql_literal(source)}"
    loaded = con.execute(f"select source_file, rows_loaded from raw.load_files where partition_year in ({in_years})"
                         f"{of_source} order by source_file").fetchall()
    return [(name, rows) for name, rows in loaded if not (raw_root / name).is_file()]


def _fingerprint(path: Path) -> tuple[int, int]:
    """(bytes, modification time in ns): how a loaded file is recognised, as make and rsync do."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def configured_units(con: duckdb.DuckDBPyConnection, units_csv: Path) -> list[str]:
    """The county codes of the configured units (the dbt seed `units.csv` by default)."""
    rows = con.execute("select county_code from read_csv($path, all_varchar = true, header = true)",
                       {"path": str(units_csv)}).fetchall()
    return [r[0] for r in rows]


def ingest(con: duckdb.DuckDBPyConnection, contract: SourceContract, year: int, raw_root: Path,
           units_csv: Path, salt: str, progress: Callable[[str], None] | None = None) -> LoadReport:
    """Replace partition `year` of `contract`'s source with the files in raw/<source>/<year>/;
    `progress` is told of each file read."""
    loader = PartitionLoader(con, contract, configured_units(con, units_csv), salt, progress)
    return loader.load(raw_root / contract.name / str(year), year)
