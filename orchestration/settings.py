"""Where things live. One environment variable per location, read by Dagster, dbt and the CLI alike."""

import csv
import os
from pathlib import Path

from orchestration.contracts import SOURCES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_PII_SALT = "jingtu-DEVELOPMENT-salt-NOT-FOR-PRODUCTION"
# Written by the sample generator beside its files: the files it wrote and their sizes.
SAMPLE_MANIFEST = ".jingtu-sample"
# The sample generator's seed by default (here, not in orchestration.sample: `jingtu`'s help shows it
# without importing the generator and numpy).
SAMPLE_SEED = 20180827  # the day of the report's symposium
# The units the project ships: the dbt seed, the default list of units (`units_file`).
UNITS_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "units.csv"


def _location(variable: str, default: Path) -> Path:
    """The path the environment variable `variable` names (else `default`), in full: one given relative
    is taken from the current folder, here as in dbt, which starts in another (orchestration/dbt.py)."""
    return Path(os.environ.get(variable, default)).absolute()


def warehouse_path() -> Path:
    """The DuckDB warehouse file (`JINGTU_WAREHOUSE`; dbt's profiles.yml reads the same variable)."""
    return _location("JINGTU_WAREHOUSE", PROJECT_ROOT / "warehouse" / "jingtu.duckdb")


YEAR_FOLDER = "[0-9][0-9][0-9][0-9]"  # raw/<source>/<YYYY>/: the only folders a load reads


def years_with_data(raw: Path) -> list[int]:
    """The years that have a folder under any source of raw/."""
    return sorted({int(p.name) for source in SOURCES for p in (raw / source).glob(YEAR_FOLDER) if p.is_dir()})


def unread_raw_paths(raw: Path) -> list[tuple[Path, str]]:
    """What lies under raw/ where no load looks, and why: a source misspelt, a folder not named as a
    year, a folder inside a year's. Named by `jingtu materialize`, by each source's ingestion (what lies
    in its folder) and by the quality check (what lies in no source's), so that no file is passed over
    unseen, in a run from the UI or a schedule too."""
    unread = []
    for entry in sorted(raw.iterdir()) if raw.is_dir() else []:
        # the landing zone's own note (in the repository), and the units the generator lists with --units
        if entry.name.startswith(".") or entry.name in ("README.md", "units.csv"):
            continue
        if entry.name not in SOURCES or not entry.is_dir():
            unread.append((entry, f"not a source's folder ({', '.join(SOURCES)})"))
            continue
        for year in sorted(p for p in entry.iterdir() if not p.name.startswith(".")):
            if not (year.is_dir() and year.match(YEAR_FOLDER)):
                what = "not a year's folder" if year.is_dir() else "a file outside the years' folders"
                unread.append((year, f"{what} (raw/{entry.name}/<YYYY>/)"))
            else:
                unread += [(folder, f"a folder inside {year.name}'s: the files of a year lie in its folder")
                           for folder in sorted(year.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]
    return unread


def not_read(path: Path, why: str) -> str:
    """How a path of `unread_raw_paths` is named, by `jingtu materialize` and in a run's log."""
    return f"{path} is not read: {why}"


def consecutive(years: list[int]) -> bool:
    """Whether sorted, distinct `years` follow one another (2018; 2015, 2016, 2017)."""
    return years[-1] - years[0] + 1 == len(years)


def span(years) -> str:
    """How years are named together: '2018', '2015–2018' for a range, '2015, 2018' for others."""
    years = sorted(set(years))
    if not consecutive(years):
        return ", ".join(map(str, years))
    return str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"


def serving_path(warehouse: Path | None = None) -> Path:
    """The read-only copy of the marts for BI tools (`JINGTU_SERVING`), swapped in atomically; by default
    beside the warehouse (`warehouse`, else settings')."""
    return _location("JINGTU_SERVING", (warehouse or warehouse_path()).parent / "serving.duckdb")


def raw_root() -> Path:
    """The landing zone `raw/<source>/<YYYY>/` (`JINGTU_RAW`)."""
    return _location("JINGTU_RAW", PROJECT_ROOT / "raw")


def units_file() -> Path:
    """The configured units (`JINGTU_UNITS`); by default the dbt seed, so there is one list."""
    return _location("JINGTU_UNITS", UNITS_SEED)


def warehouse_problem(path: Path) -> str | None:
    """Why the warehouse cannot be at `path`, or None. DuckDB cuts a path at a '?' when it names the
    database's WAL file, so every load failed to commit. dbt-duckdb names the database after the file
    and leaves a quote in that name unescaped in its SQL, so its build failed on a parser error."""
    if "?" in str(path):
        return f"the warehouse's path {path} holds a '?', which DuckDB cannot keep a database under (JINGTU_WAREHOUSE)"
    if quotes := "".join(q for q in "'\"" if q in path.stem):
        return (f"the warehouse's file name {path.name} holds a quote ({quotes}), which dbt-duckdb cannot build"
                " in: name it without one (JINGTU_WAREHOUSE)")
    return None


def locations_problem(warehouse: Path, units: Path) -> str | None:
    """Why a run cannot use the warehouse at `warehouse` and the list of units at `units`, or None:
    checked by `jingtu` before a run and by each ingestion step (a run from the UI)."""
    return warehouse_problem(warehouse) or units_problem(units)


UNIT_COLUMNS = ("county_code", "county_name", "unit_type")  # what the loader and dbt's config.units read


def units_problem(path: Path) -> str | None:
    """Why the list of units at `path` cannot be read as one, or None: checked before a run, which
    would otherwise fail in every step on DuckDB's binder error."""
    if not path.is_file():
        return f"the list of units {path} does not exist (JINGTU_UNITS names it; by default dbt_project/seeds/units.csv)"
    try:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            header = next(csv.reader(lines), [])
            has_unit = any(line.strip() for line in lines)
    except UnicodeDecodeError:
        return f"the list of units {path} is not UTF-8 text"
    if missing := [column for column in UNIT_COLUMNS if column not in header]:
        return (f"the list of units {path} lacks {', '.join(missing)} (its header: {', '.join(header) or 'none'};"
                f" expected {', '.join(UNIT_COLUMNS)})")
    return None if has_unit else f"the list of units {path} lists no unit"


def expectations_dir() -> Path:
    """The Great Expectations suites, written by `jingtu suites` (`JINGTU_EXPECTATIONS`)."""
    return _location("JINGTU_EXPECTATIONS", PROJECT_ROOT / "expectations")


def quality_dir(warehouse: Path | None = None) -> Path:
    """The quality report's folder (`JINGTU_QUALITY`, by default next to the warehouse: `warehouse`, else
    settings')."""
    return _location("JINGTU_QUALITY", (warehouse or warehouse_path()).parent / "quality")


def reports_dir(warehouse: Path | None = None) -> Path:
    """The county portraits, one HTML page per year and an index (`JINGTU_REPORTS`, by default next
    to the warehouse: `warehouse`, else settings')."""
    return _location("JINGTU_REPORTS", (warehouse or warehouse_path()).parent / "reports")


def dagster_home() -> Path:
    """The project-local Dagster instance (`DAGSTER_HOME`)."""
    return _location("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home")


def dagster_home_problem(path: Path) -> str | None:
    """Why Dagster cannot keep its instance at `path`, or None: its SQLite storage puts the path into a
    URL unescaped, where %xx is decoded and '?' or '#' ends it (a traceback at the run's start)."""
    if found := "".join(c for c in "%?#" if c in str(path)):
        return f"DAGSTER_HOME {path} holds {' '.join(found)}, which Dagster's SQLite storage cannot open"
    return None


def duckdb_memory_limit() -> str:
    """DuckDB's memory limit (`JINGTU_DUCKDB_MEMORY_LIMIT`); past it, DuckDB spills to disk."""
    return os.environ.get("JINGTU_DUCKDB_MEMORY_LIMIT", "1.5GB")


class SettingInvalid(Exception):
    """An environment variable of the project's holds a value it cannot use; the message names it."""


class PiiKeyMissing(Exception):
    """Real data would be hashed with the public development key."""


def sample_files(raw: Path) -> dict[str, int]:
    """The files the sample generator wrote under `raw` (path: bytes), from its manifest."""
    manifest = raw / SAMPLE_MANIFEST
    if not manifest.exists():
        return {}
    return {path: int(size) for path, size in (line.rsplit("\t", 1) for line in manifest.read_text().splitlines())}


def holds_only_sample(raw: Path) -> bool:
    """Whether every file under `raw/<source>/<year>/` is one the generator wrote, unchanged."""
    sample = sample_files(raw)
    found = {p.relative_to(raw).as_posix(): p.stat().st_size for p in raw.glob("*/*/*") if p.is_file()}
    return bool(sample) and all(sample.get(path) == size for path, size in found.items())


def pii_key(raw: Path | None = None) -> str:
    """The secret key of the HMAC that turns caller phones into `caller_key` (`JINGTU_PII_SALT`).
    Without it, the public development key serves the generated sample only: anyone could confirm a
    known phone number against a key that is not secret."""
    key = os.environ.get("JINGTU_PII_SALT")
    if key:
        return key
    raw = raw or raw_root()
    if holds_only_sample(raw):
        return DEV_PII_SALT
    raise PiiKeyMissing(
        f"JINGTU_PII_SALT is not set and {raw} holds files the sample generator did not write: caller phone"
        " numbers are hashed with a secret key, never with the public development key. Set it to a long"
        " random secret, kept out of the repository, e.g.\n"
        "  export JINGTU_PII_SALT=$(python3 -c 'import secrets; print(secrets.token_hex(32))')\n"
        "and keep it: a different key gives different caller keys (every partition is reloaded).")
