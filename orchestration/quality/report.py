"""The quality report: the latest result of every suite and year on one static page,
`<quality>/index.html`, which opens from disk with no network (Great Expectations' own Data Docs
load their scripts from CDNs and show an empty index offline). It is rewritten after every check
from `<quality>/results.json`; the example rows it shows are the checks' own, already masked."""

import dataclasses
import datetime
import json
import os
from pathlib import Path

from orchestration import settings
from orchestration.lib.html import templates


def results_path(folder: Path | None = None) -> Path:
    return (folder or settings.quality_dir()) / "results.json"


def page_path(folder: Path | None = None) -> Path:
    return (folder or settings.quality_dir()) / "index.html"


def record(results: list, years: list[int], run_name: str, folder: Path | None = None) -> Path:
    """Keep `results` (SuiteResults) as the latest of their suite and years in the report in `folder`
    (by default settings'); rewrite the page."""
    year = settings.span(years) if years else None
    path = results_path(folder)
    latest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    checked_at = datetime.datetime.now().isoformat(timespec="seconds")
    for result in results:
        entry = dataclasses.asdict(result) | {"year": year, "run_name": run_name, "checked_at": checked_at}
        for failure in entry["failures"]:
            failure.pop("query", None)
        latest[f"{result.suite}/{year}"] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, json.dumps(latest, ensure_ascii=False, indent=1, default=str))
    entries = sorted(latest.values(), key=lambda e: (e["suite"], str(e["year"] or "")))
    _write(page_path(folder), templates.get_template("quality.html.j2").render(
        entries=entries, failed=sum(not e["success"] for e in entries), written_at=checked_at))
    return page_path(folder)


def _write(path: Path, text: str) -> None:
    """Atomically: a reader never sees half a page."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
