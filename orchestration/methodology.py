"""The methodology configuration as Python reads it: the dbt seeds (`dbt_project/seeds/`, keyed by
methodology version) and the dbt vars. dbt is the one place it is applied; the docs and the sample
generator read it here."""

import csv
import functools
from pathlib import Path

import yaml

from orchestration.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


def variables() -> dict:
    """The dbt vars of dbt_project.yml, parsed again only when the file changes: the sample generator
    asks for them for every unit and year."""
    project = PROJECT_ROOT / "dbt_project" / "dbt_project.yml"
    return dict(_variables_of(project, project.stat().st_mtime_ns))


@functools.lru_cache(maxsize=1)
def _variables_of(project: Path, _modified: int) -> dict:
    return yaml.load(project.read_text(), Loader=yaml.CSafeLoader)["vars"]


def default_version() -> str:
    return variables()["methodology_version"]


def all_rows(seed: str) -> list[dict]:
    with (SEEDS / f"{seed}.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def rows(seed: str, version: str | None = None) -> list[dict]:
    """The seed's rows of `version` (default: the version in force), without the version column."""
    version = version or default_version()
    return [{k: v for k, v in row.items() if k != "methodology_version"}
            for row in all_rows(seed) if row["methodology_version"] == version]


def component_weights(indicator: str, version: str | None = None) -> dict[str, float]:
    """Component → its weight inside `indicator`."""
    return {c["component"]: float(c["weight"]) for c in rows("methodology_components", version)
            if c["indicator"] == indicator}
