"""Running the suites of `expectations/` against the warehouse with Great Expectations.

GX keeps nothing on disk: its validation results (which hold unexpected values as read) stay in
memory, and the summary of each, its examples masked, goes to the quality report
(`quality/report.py`), a page that opens offline. Every expectation runs as SQL inside DuckDB over
the whole partition (see `gx_duckdb`), so a ten-million-ticket year is never loaded into Python.
"""

import functools
import importlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestration import settings
from orchestration.contracts import MUNICIPAL_CODE
from orchestration.lib import pii
from orchestration.lib.duck import RUN_LOCK_WAIT, connect, sql_literal
from orchestration.quality import gx_duckdb, report
from orchestration.quality.suites import Suite, read_suite

EXAMPLES = 5  # unexpected values shown per failed expectation
DATASOURCE = "warehouse"


@dataclass
class FailedExpectation:
    rule: str  # the suite's words for what broke
    expectation: str
    column: str | None
    unexpected: int | None  # rows breaking it, when GX counts them
    examples: list[str]
    query: str | None = None  # an unexpected-rows expectation's SQL


@dataclass
class SuiteResult:
    suite: str
    success: bool
    rows: int | None  # rows in the batch (None when no expectation counted them)
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)
    observed: dict[str, object] = field(default_factory=dict)  # rule -> observed value, for the record
    seconds: float = 0.0


def suite_parameters(units: list[str]) -> dict:
    return {"configured_units": list(units), "configured_units_and_city": [*units, MUNICIPAL_CODE]}


def _context():
    """An ephemeral GX context: its data source, suites and results stay in memory. They are rebuilt
    from `expectations/` on every run, so no stale GX object ever refers to a batch that is gone."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no telemetry: nothing outside is reachable
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False), data_docs_sites={})
    return gx.get_context(mode="ephemeral", project_config=config)


@functools.cache
def _counted_unexpected_rows() -> str:
    """The type of GX's unexpected-rows expectation decided on the rows' count alone. GX's own runs its
    query twice, fetching the rows (which it keeps only in a COMPLETE result) and then counting them:
    a second scan of the batch, each time. The report fetches a failure's few example rows itself
    (`_add_example_rows`)."""
    import great_expectations as gx

    class CountedUnexpectedRows(gx.expectations.UnexpectedRowsExpectation):
        metric_dependencies = ("unexpected_rows_query.row_count",)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None) -> dict:
            count = metrics["unexpected_rows_query.row_count"]
            return {"success": count == 0, "result": {"observed_value": count}}

    return CountedUnexpectedRows.expectation_type


def _for_gx(expectation: dict) -> dict:
    """A suite's expectation as the checks give it to GX (see `_counted_unexpected_rows`)."""
    if expectation["type"] == "unexpected_rows_expectation":
        return {**expectation, "type": _counted_unexpected_rows()}
    return expectation


def _examples(result: dict) -> list[str]:
    if "partial_unexpected_list" in result:
        values = result["partial_unexpected_list"]
    elif "details" in result and "mismatched" in (result["details"] or {}):
        values = [result["details"]["mismatched"]]
    else:
        values = [result.get("observed_value")] if result.get("observed_value") is not None else []
    return [pii.mask(str(v))[:200] for v in values[:EXAMPLES]]


def _error_message(info: dict | None) -> str | None:
    """The first error GX caught while computing the expectation (its info is flat or per metric)."""
    infos = [info] if info and "raised_exception" in info else list((info or {}).values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            return (item.get("exception_message") or "the expectation raised an error").strip().splitlines()[0][:300]
    return None


def _unexpected(result: dict) -> int | None:
    if "unexpected_count" in result:
        return result["unexpected_count"]
    observed = result.get("observed_value")
    return observed if isinstance(observed, int) else None


def _summarise(validation, seconds: float) -> SuiteResult:
    outcome = SuiteResult(validation.suite_name, bool(validation.success), None, len(validation.results),
                          seconds=seconds)
    for evaluated in validation.results:  # in GX's order, not the suite's
        rule = evaluated.expectation_config.meta["rule"]
        result = evaluated.result or {}
        if result.get("element_count") is not None:
            outcome.rows = result["element_count"]
        kwargs = evaluated.expectation_config.kwargs
        error = _error_message(evaluated.exception_info)
        if error:
            outcome.failures.append(FailedExpectation(rule, evaluated.expectation_config.type,
                                                      kwargs.get("column"), None, [f"error: {error}"]))
        elif not evaluated.success:
            query = kwargs.get("unexpected_rows_query")
            outcome.failures.append(FailedExpectation(rule, evaluated.expectation_config.type, kwargs.get("column"),
                                                      _unexpected(result), [] if query else _examples(result),
                                                      query))
        else:
            outcome.observed[rule] = result.get("observed_value", result.get("unexpected_count", 0))
    return outcome


VALIDATED_LOADS = "quality.validated_loads"


def pending_loads(database: Path, sources: list[str], years: list[int]) -> dict[str, list[str]]:
    """The loads of each source's raw partitions that no passing check has validated yet."""
    with connect(database, read_only=False, wait=RUN_LOCK_WAIT) as con:
        _ensure_validated_loads(con)
        found = dict(con.execute(
            f"""select source, list(distinct load_id order by load_id) from raw.load_files as f
                where list_contains($sources, source) and list_contains($years, partition_year)
                and not exists (select 1 from {VALIDATED_LOADS} as v where v.source = f.source
                                and v.partition_year = f.partition_year and v.load_id = f.load_id)
                group by source""", {"sources": sources, "years": years}).fetchall())
    return {source: found.get(source, []) for source in sources}


def record_validated(database: Path, sources: list[str], years: list[int]) -> None:
    """After passing checks: every load the sources' partitions now hold is validated (one transaction,
    one opening of the warehouse for them all)."""
    if not sources:
        return
    with connect(database, read_only=False, wait=RUN_LOCK_WAIT) as con:
        _ensure_validated_loads(con)
        con.execute("begin transaction")
        con.execute(f"delete from {VALIDATED_LOADS} where list_contains($sources, source)"
                    " and list_contains($years, partition_year)", {"sources": sources, "years": years})
        con.execute(f"""insert into {VALIDATED_LOADS} select distinct source, partition_year, load_id, now()::timestamp
                        from raw.load_files where list_contains($sources, source) and list_contains($years, partition_year)""",
                    {"sources": sources, "years": years})
        con.execute("commit")


def _ensure_validated_loads(con) -> None:
    con.execute(f"create schema if not exists quality; create table if not exists {VALIDATED_LOADS} ("
                "source varchar, partition_year integer, load_id varchar, validated_at timestamp)")


def batch_query(suite: Suite, years: list[int], loads: list[str] | None) -> str:
    """The suite's rows for `years`; for a by-load suite given `loads`, only those loads' rows."""
    query = suite.batch.format(years=", ".join(str(int(year)) for year in years))
    if loads is None or not suite.by_load:
        return query
    wanted = ", ".join(sql_literal(load) for load in loads)
    return f"select * from ({query}) where {f'load_id in ({wanted})' if loads else 'false'}"


def validate(database: Path, suite_names: list[str], years: list[int], units: list[str],
             run_name: str, loads: Mapping[str, list[str]] | None = None) -> list[SuiteResult]:
    """Validate each suite's batch (the rows of `years`; for a raw suite given its loads in `loads`,
    keyed by suite name, only their rows), every suite and year in one GX run, in `database`; their
    summaries, also recorded in the quality report beside `database` (`settings.quality_dir`). A suite
    whose loads all passed a check already is not run."""
    loads = loads or {}
    suites = [read_suite(name) for name in suite_names]
    pending = [suite for suite in suites if loads.get(suite.name) != []]
    validated = {}
    if pending:
        validated = _run_suites(database, pending, years, units, loads)
        _add_example_rows(database, pending, years, loads, [validated[s.name] for s in pending])
    outcomes = [validated.get(s.name) or SuiteResult(suite=s.name, success=True, rows=0, evaluated=0) for s in suites]
    report.record(outcomes, years, run_name, settings.quality_dir(database))
    return outcomes


@functools.cache
def import_gx_in_background() -> None:
    """Start importing Great Expectations on a thread of its own: seconds of Python, which then
    overlap the ingestion (DuckDB releases the GIL while it reads), and the checks that follow find
    it imported. Once per process."""
    threading.Thread(target=importlib.import_module, args=("great_expectations",), name="import-gx",
                     daemon=True).start()


def _run_suites(database: Path, suites: list[Suite], years: list[int], units: list[str],
                loads: Mapping[str, list[str]]) -> dict[str, SuiteResult]:
    """Every suite in one GX context, each validated on its batch in one call: their summaries by suite
    name. `Batch.validate` rather than a checkpoint, which adds nothing kept here (no actions, no stored
    results) but checks each of its validation definitions, suites and assets against the context's
    stores before it runs them."""
    import great_expectations as gx

    context = _context()
    datasource = context.data_sources.add_sql(DATASOURCE, connection_string=gx_duckdb.connection_string(database))
    counts = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
    parameters = suite_parameters(units)
    validations = {}
    started = time.perf_counter()
    try:
        for suite in suites:
            batch = datasource.add_query_asset(suite.name, query=batch_query(suite, years, loads.get(suite.name))) \
                .add_batch_definition_whole_table("partition").get_batch()
            gx_suite = gx.ExpectationSuite(name=suite.name, expectations=[_for_gx(e) for e in suite.expectations])
            validation = batch.validate(gx_suite, result_format=counts, expectation_parameters=parameters)
            if not validation.success:  # again, for a few of the values that broke each rule: GX looks for them
                # with a query per rule over the whole batch, which a suite that passes does without
                validation = batch.validate(gx_suite, result_format={**counts, "partial_unexpected_count": EXAMPLES},
                                            expectation_parameters=parameters)
            validations[suite.name] = validation
    finally:
        gx_duckdb.close_connections()
    seconds = time.perf_counter() - started
    return {name: _summarise(validation, seconds) for name, validation in validations.items()}


def _add_example_rows(database: Path, suites: list[Suite], years: list[int], loads: Mapping[str, list[str]],
                      outcomes: list[SuiteResult]) -> None:
    """GX reports only a count for an unexpected-rows expectation unless asked for every row; fetch
    a few of the rows for the report instead."""
    failing = [(suite, failure) for suite, outcome in zip(suites, outcomes, strict=True)
               for failure in outcome.failures if failure.query and not failure.examples]
    if not failing:
        return
    with connect(database, read_only=False, wait=RUN_LOCK_WAIT) as con:
        for suite, failure in failing:
            query = failure.query.format(batch=f"({batch_query(suite, years, loads.get(suite.name))})")
            cursor = con.execute(f"select * from ({query}) limit {EXAMPLES}")
            names = [d[0] for d in cursor.description]
            # The rows that break a personal-data rule hold that data: masked here, as the loader would.
            failure.examples = [pii.mask(str(dict(zip(names, row, strict=True))))[:300] for row in cursor.fetchall()]

