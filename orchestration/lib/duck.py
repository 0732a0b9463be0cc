"""Opening DuckDB the one way the project does it."""

import shutil
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import duckdb_ext

from orchestration import settings

# The excel and httpfs extensions come from the duckdb-ext-* packages because the extension repository
# is not reachable from our machines: the signed, official builds for this DuckDB version, in DuckDB's
# own layout of an extension directory.
EXTENSIONS = Path(next(iter(duckdb_ext.__path__))) / "extensions"
_EXTENSION_DIR = EXTENSIONS / f"v{duckdb.__version__}"


def sql_literal(value) -> str:
    """`value` as a SQL string literal, for the statements that run faster with literals than with
    parameters (an INSERT … SELECT is far slower parameterised)."""
    return "'" + str(value).replace("'", "''") + "'"


def load_excel_extension(con: duckdb.DuckDBPyConnection) -> None:
    """Load the extension that reads and writes .xlsx into `con`."""
    (path,) = _EXTENSION_DIR.glob("*/excel.duckdb_extension")
    con.execute(f"load {sql_literal(path)}")


_BYTES = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit in bytes (DuckDB shows it as, say, '1.3 GiB')."""
    number, unit = con.execute("select current_setting('memory_limit')").fetchone()[0].split()
    return int(float(number) * _BYTES[unit])


class DatabaseUnavailable(Exception):
    """A DuckDB file that cannot be opened: damaged, in use by a writer, or missing; the message says which."""


# What DuckDB says of a file that is not (or no longer) a whole database: truncated, overwritten.
_DAMAGED = ("Could not read enough bytes", "not a valid DuckDB database", "Corrupt database", "checksum")


def says_damaged(text: str) -> bool:
    """Whether a DuckDB error's `text` says the file is not (or no longer) a whole database."""
    return any(words in text for words in _DAMAGED)


def explain_open_error(path: Path | str, error: Exception) -> str:
    """A person's account of why `path` could not be opened or read."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if says_damaged(str(error)):
        return (f"{path} is damaged ({first}). Restore it from a backup, or remove it and run `jingtu run`"
                " again: the warehouse is rebuilt from raw/, the serving file by the next publication.")
    if "lock" in str(error).lower():
        return f"{path} is in use by another process ({first}): wait for that run to end and try again."
    return f"{path} cannot be opened: {first}"


def open_checked(database: Path, read_only: bool = True, wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """`connect`, with a plain DatabaseUnavailable when the file is missing, damaged or locked (after
    `wait` seconds)."""
    if not Path(database).exists():
        raise DatabaseUnavailable(f"{database} does not exist")
    try:
        con = connect(database, read_only=read_only, wait=wait)
        con.execute("select count(*) from information_schema.tables").fetchone()  # reads the catalogue
        return con
    except duckdb.Error as error:
        raise DatabaseUnavailable(explain_open_error(database, error)) from None


def has_mart(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the database holds the table marts.`name` (a warehouse or serving file not yet built
    that far has not)."""
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = 'marts'"
                            " and table_name = $name", {"name": name}).fetchone()[0])


# DuckDB checkpoints whenever its write-ahead log passes 16 MB, so a load or a dbt build wrote the
# tables it was filling again and again along the way; with this, the checkpoint comes once, when
# the last connection closes. dbt's profile sets the same (profiles.yml).
CHECKPOINT_THRESHOLD = "1GB"


def check_settings() -> None:
    """Raises settings.SettingInvalid when the project's DuckDB settings (`connect`) do not apply:
    before a run, rather than in each of its steps."""
    connect().close()


def encrypt_spills(con: duckdb.DuckDBPyConnection) -> None:
    """What DuckDB spills to disk when memory runs short (files beside the database) encrypted: a spilled
    block holds whatever its memory held before, a raw file's personal data in clear included. The key
    is the process's own; the httpfs extension's secure random numbers make it, loaded from `EXTENSIONS`
    the first time a spill needs them. dbt's profile sets the same (profiles.yml)."""
    con.execute(f"set extension_directory = {sql_literal(EXTENSIONS)}")
    con.execute("set temp_file_encryption = true")


def spill_folder(database: Path | str) -> Path:
    """Where DuckDB spills for a connection writing `database` (its default). Readers spill beside it,
    each into a folder of its own (`_spill_where_no_one_else_does`)."""
    return Path(f"{database}.tmp")


def _spill_where_no_one_else_does(con: duckdb.DuckDBPyConnection, database: Path | str, read_only: bool) -> None:
    """DuckDB refuses to turn spill encryption on while the folder it spills into holds a file, another
    process's included ("Existing temporary files found"): the spills of a process killed while spilling
    failed every later connection until removed by hand. Readers, which other processes may read beside,
    and in-memory databases, which would share the working directory's .tmp/, spill into a folder of their
    own, which DuckDB makes at the first spill and removes on closing: a reader's beside the database (the
    disk sized for it), an in-memory database's in the system's temporary folder. A writer removes the
    spills it finds beside the database, its own folder's and readers': no other process can own them
    while it holds the file, and they are worthless, encrypted with a key that died with their process."""
    if con.execute("select current_setting('temp_file_encryption')").fetchone()[0]:
        return  # a database this process has open already, set up by its first connection
    if database == ":memory:":
        own = Path(tempfile.gettempdir()) / f"jingtu-spill-{uuid.uuid4().hex}"
    elif read_only:
        own = Path(f"{spill_folder(database)}-{uuid.uuid4().hex}")
    else:
        live = {Path(path) for (path,) in con.execute("select path from duckdb_temporary_files()").fetchall()}
        folder = spill_folder(database)
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.is_file() and path not in live:
                path.unlink()
        for path in folder.parent.iterdir():
            if path.name.startswith(f"{folder.name}-") and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
        return
    con.execute(f"set temp_directory = {sql_literal(own)}")


# How long a run's step waits for another process to let go of the warehouse (`connect`'s `wait`):
# `jingtu publish` or `jingtu audit`, or a person's DuckDB shell, holding it for a moment must not
# fail a scheduled run. A person's own command fails at once instead, saying who holds it.
RUN_LOCK_WAIT = 60.0


def connect(database: Path | str = ":memory:", read_only: bool = False, excel: bool = False,
            wait: float = 0.0) -> duckdb.DuckDBPyConnection:
    """A connection, with the excel extension loaded when it reads or writes .xlsx (`excel`): loading
    it verifies its signature, which costs more than opening the database. No connect-time config
    on purpose: dbt opens the same file in the same process, and DuckDB requires identical configs.
    A file another process holds is tried again for up to `wait` seconds."""
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    con = _open(database, read_only, wait)
    # Without a limit DuckDB takes 80 % of RAM before spilling, which a large year fills.
    limit = settings.duckdb_memory_limit()
    try:
        con.execute("set memory_limit = '" + limit.replace("'", "''") + "'")
    except duckdb.Error as error:  # DuckDB's parser says "Memory limit must have a number", not where it came from
        con.close()
        raise settings.SettingInvalid(f"JINGTU_DUCKDB_MEMORY_LIMIT={limit!r} is not a size DuckDB understands,"
                                      f" such as 1.5GB or 800MB; DuckDB: {error}") from None
    con.execute(f"set checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    _spill_where_no_one_else_does(con, database, read_only)
    encrypt_spills(con)
    if excel:
        load_excel_extension(con)
    return con


def _open(database: Path | str, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(str(database), read_only=read_only)
        except duckdb.IOException as error:  # "Could not set lock on file …: Conflicting lock is held in …"
            if "Conflicting lock" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
