"""dbt's documentation as one static page that opens from disk, offline, while a run holds the
warehouse: the catalog (column types, row counts) is read from a private copy of the serving file,
which no run locks, and `dbt docs generate --static` inlines the manifest and the catalog into the
page (the usual index.html fetches them, which a browser refuses from file://)."""

import os
import shutil
import tempfile
from pathlib import Path

from orchestration import settings
from orchestration.dbt import DBT_PROJECT_DIR, from_saved_parse, invoke_dbt_or_fail


def dbt_docs_path() -> Path:
    return settings.warehouse_path().parent / "docs" / "dbt.html"


def write_dbt_docs(out: Path | None = None) -> Path:
    """Write the page; without a serving file yet, its catalog is empty (the docs are all there)."""
    out = out or dbt_docs_path()
    serving = settings.serving_path()
    with tempfile.TemporaryDirectory(prefix="jingtu-docs-") as folder:
        folder = Path(folder)
        catalog = folder / settings.warehouse_path().name  # the file's stem is the catalog's name in dbt
        if serving.exists():
            shutil.copyfile(serving, catalog)
            os.chmod(catalog, 0o600)  # the serving file is read-only; dbt opens its database for writing
        # dbt starts as a step's would, from the saved parse, in this process (a child for each command
        # paid dbt's imports again)
        target = from_saved_parse(folder / "target")
        common = ["--target-path", str(target), "--log-path", str(folder), "--project-dir",
                  str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        for command in (["parse"], ["docs", "generate", "--static", "--no-compile",
                                    *([] if serving.exists() else ["--empty-catalog"])]):
            read = f", its catalog read from a copy of {serving}" if serving.exists() else ""
            invoke_dbt_or_fail([*command, *common], f"the dbt docs could not be written (dbt {' '.join(command)}{read})",
                               warehouse=catalog)
        page = (target / "static_index.html").read_text(encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.tmp")
    staging.write_text(_without_dead_links(page), encoding="utf-8")
    os.replace(staging, out)
    return out


# dbt's page asks for two files that do not exist, which a browser logs as errors: menu icons whose
# link is an Angular expression in a plain attribute (fetched before Angular fills it in), and a
# favicon whose path was never bundled. Each is rewritten only if found as it is in dbt 1.11.
DEAD_LINKS = {'<use xlink:href="{{ getIcon(': '<use ng-attr-xlink:href="{{ getIcon(',
              '<link rel="shortcut icon" href="${require(\'./assets/favicons/favicon.ico\')}"/>': ""}


def _without_dead_links(page: str) -> str:
    for dead, fixed in DEAD_LINKS.items():
        page = page.replace(dead, fixed)
    return page
