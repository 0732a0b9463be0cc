"""The raw layer's quality gates: its Great Expectations suites (`expectations/`) as blocking asset checks.

A failing check stops the year's dbt build; the data stays where it is, for inspection. The check
names the expectation that failed, on how many rows, with a few of the values. The marts are
guarded by their dbt tests, which dagster-dbt shows as checks and which fail the run, so nothing
is published.
"""

from collections.abc import Iterator
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from orchestration import settings
from orchestration.contracts import SOURCES
from orchestration.ingest import configured_units
from orchestration.lib.duck import connect
from orchestration.partitions import run_years, yearly
from orchestration.quality import report
from orchestration.quality.validate import SuiteResult, pending_loads, record_validated, validate
from orchestration.resources import WAREHOUSE_POOL, Warehouse

CHECK_NAME = "expectations"


def _failures_table(results: list[SuiteResult]) -> str:
    lines = ["| suite | expectation | rows | examples |", "|---|---|---:|---|"]
    for result in results:
        for f in result.failures:
            examples = "; ".join(f.examples).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {result.suite} | {f.rule} | {f.unexpected if f.unexpected is not None else '—'} "
                         f"| {examples} |")
    return "\n".join(lines)


def check_result(results: list[SuiteResult], report_page: Path, loads: list[str] | None = None,
                 asset_key: AssetKey | None = None) -> AssetCheckResult:
    """One Dagster check result (of `asset_key`'s check) for the suites run together: failures first,
    statistics always, and where the quality report is (`report_page`)."""
    failures = [(r.suite, f) for r in results for f in r.failures]
    metadata = {} if loads is None else {"loads_validated": len(loads)}
    metadata |= {
        "rows_validated": {r.suite: r.rows for r in results},
        "expectations_evaluated": sum(r.evaluated for r in results),
        "expectations_failed": len(failures),
        "seconds": round(max(r.seconds for r in results), 2),
    }
    metadata["quality_report"] = MetadataValue.url(report_page.as_uri())
    if failures:
        metadata["failed_expectations"] = MetadataValue.md(_failures_table(results))
        lines = [f"{suite}: {f.rule}: {f.unexpected if f.unexpected is not None else 'not met'}"
                 f"{' rows' if f.unexpected is not None else ''} (e.g. {', '.join(f.examples[:3]) or '—'})"
                 for suite, f in failures]
        description = f"{len(failures)} expectation(s) failed:\n" + "\n".join(lines)
    else:
        metadata["observed"] = {r.suite: {rule: _plain(v) for rule, v in r.observed.items()} for r in results}
        description = (f"all {metadata['expectations_evaluated']} expectations met" if loads != []
                       else "no load since the last passing check: nothing new to validate")
    return AssetCheckResult(passed=not failures, severity=AssetCheckSeverity.ERROR, description=description,
                            metadata=metadata, asset_key=asset_key, check_name=asset_key and CHECK_NAME)


def _plain(value):
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _source_of(key: AssetCheckKey) -> str:
    return key.asset_key.path[-1]


@multi_asset_check(
    name="raw_expectations",
    specs=[AssetCheckSpec(CHECK_NAME, asset=AssetKey(["raw", name]), blocking=True, partitions_def=yearly,
                          description=f"The loaded {name} rows of the year meet the contract, and no file rejects"
                                      f" too many rows. Suites: expectations/raw_{name}.json,"
                                      f" expectations/raw_{name}_files.json.")
           for name in SOURCES],
    can_subset=True, pool=WAREHOUSE_POOL)
def raw_expectations(context: AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator[AssetCheckResult]:
    """Every selected source's suites in one GX run, over the loads not yet validated (every load
    when a previous check failed, none when nothing was loaded since it passed); a result per source."""
    years = run_years(context)  # the run's year, or its years in one pass
    label = settings.span(years)
    for path, why in settings.unread_raw_paths(warehouse.raw_path):
        if path.parent == warehouse.raw_path:  # in no source's folder, which no ingestion looks at: said once a run
            context.log.warning(settings.not_read(path, why))
    sources = sorted(_source_of(key) for key in context.selected_asset_check_keys)
    with connect() as con:
        units = configured_units(con, warehouse.units_path)
    pending = pending_loads(warehouse.database_path, sources, years)
    suites = {source: [f"raw_{source}", f"raw_{source}_files"] for source in sources}
    results = validate(warehouse.database_path, [s for source in sources for s in suites[source]], years, units,
                       run_name=f"raw_{label}",
                       loads={suite: pending[source] for source in sources for suite in suites[source]})
    by_suite = {result.suite: result for result in results}
    page = report.page_path(settings.quality_dir(warehouse.database_path))
    outcomes = {source: check_result([by_suite[suite] for suite in suites[source]], page, pending[source],
                                     AssetKey(["raw", source])) for source in sources}
    record_validated(warehouse.database_path, [source for source, outcome in outcomes.items() if outcome.passed], years)
    for source, outcome in outcomes.items():
        log = context.log.info if outcome.passed else context.log.error
        log(f"raw/{source} {label}: {outcome.description}")
        yield outcome


quality_checks = [raw_expectations]
