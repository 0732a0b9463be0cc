"""Where things live. One environment variable per location, read by Dagster, dbt and the CLI alike."""

import os
import warnings
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_PII_SALT = "jingtu-DEVELOPMENT-salt-NOT-FOR-PRODUCTION"


def warehouse_path() -> Path:
    """The DuckDB warehouse file (`JINGTU_WAREHOUSE`; dbt's profiles.yml reads the same variable)."""
    return Path(os.environ.get("JINGTU_WAREHOUSE", PROJECT_ROOT / "warehouse" / "jingtu.duckdb"))


def serving_path() -> Path:
    """The read-only copy of the marts for BI tools (`JINGTU_SERVING`), swapped in atomically."""
    return Path(os.environ.get("JINGTU_SERVING", warehouse_path().parent / "serving.duckdb"))


def raw_root() -> Path:
    """The landing zone `raw/<source>/<YYYY>/` (`JINGTU_RAW`)."""
    return Path(os.environ.get("JINGTU_RAW", PROJECT_ROOT / "raw"))


def units_file() -> Path:
    """The configured units (`JINGTU_UNITS`); by default the dbt seed, so there is one list."""
    default = PROJECT_ROOT / "dbt_project" / "seeds" / "units.csv"
    return Path(os.environ.get("JINGTU_UNITS", default))


def expectations_dir() -> Path:
    """The Great Expectations suites, written by `jingtu suites` (`JINGTU_EXPECTATIONS`)."""
    return Path(os.environ.get("JINGTU_EXPECTATIONS", PROJECT_ROOT / "expectations"))


def quality_dir() -> Path:
    """Great Expectations' working folder: validation results and the Data Docs site
    (`JINGTU_QUALITY`, by default next to the warehouse)."""
    return Path(os.environ.get("JINGTU_QUALITY", warehouse_path().parent / "quality"))


def dagster_home() -> Path:
    """The project-local Dagster instance (`DAGSTER_HOME`)."""
    return Path(os.environ.get("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home"))


def duckdb_memory_limit() -> str:
    """DuckDB's memory limit (`JINGTU_DUCKDB_MEMORY_LIMIT`); past it, DuckDB spills to disk."""
    return os.environ.get("JINGTU_DUCKDB_MEMORY_LIMIT", "1.5GB")


def pii_salt() -> str:
    """Salt for hashing caller phones. Without `JINGTU_PII_SALT` a development salt is used, loudly."""
    salt = os.environ.get("JINGTU_PII_SALT")
    if not salt:
        warnings.warn(
            "JINGTU_PII_SALT is not set: hashing caller phones with the DEVELOPMENT salt. "
            "Set JINGTU_PII_SALT to a secret value in production.",
            stacklevel=2,
        )
        return DEV_PII_SALT
    return salt
