"""What the warehouse's contents follow from: the raw files, the code and configuration, the key
that hashes personal data, and the methodology chosen for the run. The raw/ sensor requests the years
whose files changed; `jingtu materialize` does nothing when none of it changed since the last run,
and follows on from it when only raw files did. Every successful run records what it ran, however it
was started (`run_start` before its first step, `note_step` after each, `promote` once it has
succeeded)."""

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from orchestration import settings
from orchestration.contracts import SOURCES

# Everything whose change changes a result: the code, the dbt project, the suites.
CODE = ("orchestration/**/*.py", "orchestration/templates/*", "dbt_project/dbt_project.yml",
        "dbt_project/models/**/*", "dbt_project/macros/**/*", "dbt_project/seeds/**/*", "dbt_project/tests/**/*",
        "expectations/*.json", "requirements.lock")


def raw_fingerprints() -> dict[str, str]:
    """'<source>/<year>' → a digest of the folder's file names, sizes and modification times."""
    fingerprints = {}
    for source in SOURCES:
        for folder in sorted((settings.raw_root() / source).glob(settings.YEAR_FOLDER)):
            files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                           for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            fingerprints[f"{source}/{folder.name}"] = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return fingerprints


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(years: list[int], methodology: str | None, key: str) -> dict[str, object]:
    root = settings.PROJECT_ROOT
    code = {p.relative_to(root) for pattern in CODE for p in root.glob(pattern) if p.is_file()}
    return {
        "years": sorted(years),
        "raw": raw_fingerprints(),
        "code": _digest(root / p for p in code),
        "units": _digest([settings.units_file()]),
        "key": hashlib.sha256(key.encode()).hexdigest(),
        "methodology": methodology or os.environ.get("JINGTU_METHODOLOGY_VERSION", ""),
        "warehouse": [_stat(settings.warehouse_path()), _stat(settings.serving_path())],
    }


def _stat(path: Path) -> list | None:
    return [path.stat().st_size, path.stat().st_mtime_ns] if path.exists() else None


def state_path() -> Path:
    return settings.warehouse_path().with_name(settings.warehouse_path().name + ".inputs.json")


class SinceLastRun(NamedTuple):
    finished_at: str
    changes: dict[int, set[str]]  # year → the sources to run: those whose files changed; empty: nothing new
    recorded: dict  # the inputs that run recorded
    not_run: list[int]  # years no run has covered since: every source of theirs is in `changes`


# Why a run cannot follow on from the last one, by the input that differs (`fingerprint`).
WHY_WHOLE = {"code": "the code, the dbt project or the suites changed", "units": "the list of units changed",
             "key": "the key that hashes personal data changed", "methodology": "another methodology version",
             "warehouse": "the warehouse or the serving file was written since the last recorded run (by a run"
                          " that failed or that did not follow on from it, or by hand)"}


def _last_run() -> dict | None:
    path = state_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _differences(current: dict, recorded: dict) -> list[str]:
    return [name for name, value in current.items() if name not in ("raw", "years") and recorded.get(name) != value]


def since_last_run(current: dict) -> SinceLastRun | None:
    """When the last successful run differs from `current` in raw files and years alone (the same code,
    configuration, key and methodology, and the warehouse as that run left it): when it finished, and
    the sources to run by year: those whose files changed since, and every source of a year no run
    covered. Otherwise None: nothing is known to be up to date (`why_whole` says why)."""
    last = _last_run()
    if last is None or _differences(current, last["inputs"]):
        return None
    recorded = last["inputs"]
    before, now = recorded["raw"], current["raw"]
    changes: dict[int, set[str]] = {}
    for key in before.keys() | now.keys():
        if before.get(key) != now.get(key) and _year(key) in current["years"] and _year(key) in recorded["years"]:
            changes.setdefault(_year(key), set()).add(key.split("/")[0])
    not_run = sorted(set(current["years"]) - set(recorded["years"]))
    changes.update({year: set(SOURCES) for year in not_run})
    return SinceLastRun(last["finished_at"], changes, recorded, not_run)


def why_whole(current: dict) -> str | None:
    """Why the years of `current` run whole, when a last run is recorded and `since_last_run` cannot
    follow on from it."""
    last = _last_run()
    if last is None:
        return None
    return "; ".join(WHY_WHOLE[name] for name in _differences(current, last["inputs"])) or None


def note_publication() -> None:
    """After `jingtu publish` from the warehouse the last run left: the serving file it wrote is the
    one recorded, so that the next run still follows on from that run (it had run everything whole)."""
    last = _last_run()
    if last is not None and last["inputs"]["warehouse"][0] == _stat(settings.warehouse_path()):
        last["inputs"]["warehouse"][1] = _stat(settings.serving_path())
        state_path().write_text(json.dumps(last, indent=1), encoding="utf-8")


def _year(raw_key: str) -> int:
    """The year of a raw fingerprint's key, 'hotline/2018'."""
    return int(raw_key.split("/")[1])


class RunStart(NamedTuple):
    current: dict  # the run's inputs (`fingerprint`), with the years it materialises
    since: SinceLastRun | None  # whether the run follows on from the last recorded one


def run_start(years: list[int]) -> RunStart | None:
    """What a run of `years` starts from, taken before its first step writes anything; None without a
    key (its ingestion then fails, saying so)."""
    try:
        key = settings.pii_key()
    except settings.PiiKeyMissing:
        return None
    current = fingerprint(years, None, key)
    return RunStart(current, since_last_run(current))


def run_record(start: RunStart, reloaded: set[str]) -> dict | None:
    """What the warehouse is up to date with after a successful run from `start` that reloaded the
    sources `reloaded` in its years, with all that reads them (every source: it ran its years whole).
    When the run followed on from the last one, the rest stays as that run recorded it: the other
    sources' files and the other years (a run of one year, or of the warnings alone, does not make the
    next run start again, and files that changed meanwhile are still new to it). Otherwise only a whole
    run is known to leave its years up to date; None: nothing is."""
    current, since = start
    whole = reloaded == set(SOURCES)
    if since is None:
        return dict(current) if whole else None
    last, run = since.recorded, set(current["years"])

    def rerun(key: str) -> bool:
        return _year(key) in run and key.split("/")[0] in reloaded

    raw = {**{key: value for key, value in last["raw"].items() if not rerun(key)},
           **{key: value for key, value in current["raw"].items() if rerun(key)}}
    return {**current, "raw": raw, "years": sorted(run | set(last["years"])) if whole else last["years"]}


def _pending_path(run_id: str) -> Path:
    return state_path().with_name(f"{state_path().name}.{run_id}")


def note_step(run_id: str, record: dict) -> None:
    """After a step of a run: its record (`run_record`), with the warehouse and the serving file as the
    step left them, kept aside until the run has succeeded (`promote`). The record a run that failed
    left is dropped."""
    for left in state_path().parent.glob(f"{state_path().name}.*"):
        left.unlink(missing_ok=True)
    state = {"finished_at": datetime.now().isoformat(timespec="seconds"),
             "inputs": {**record, "warehouse": [_stat(settings.warehouse_path()), _stat(settings.serving_path())]}}
    _pending_path(run_id).write_text(json.dumps(state, indent=1), encoding="utf-8")


def promote(run_id: str) -> bool:
    """After run `run_id` succeeded: its record becomes the last run's, which the next run follows on
    from, unless the warehouse or the serving file was written since its last step (by another run)."""
    path = _pending_path(run_id)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    except FileNotFoundError:  # none, or promoted meanwhile (by the CLI and the sensor both)
        return False
    if state["inputs"]["warehouse"] != [_stat(settings.warehouse_path()), _stat(settings.serving_path())]:
        return False
    path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(path, state_path())
    return True
