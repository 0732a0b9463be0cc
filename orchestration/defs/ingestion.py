"""One asset per raw source, partitioned by year: raw/<source>/<YYYY>/ → raw.<source> in DuckDB."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration import settings
from orchestration.contracts import SOURCES, SourceContract
from orchestration.ingest import LoadReport, SourceFileError, WarehouseWriteError, ingest
from orchestration.partitions import run_years, yearly
from orchestration.quality.validate import import_gx_in_background
from orchestration.resources import WAREHOUSE_POOL, Warehouse


def _files_table(reports: list[LoadReport]) -> str:
    lines = ["| file | format | encoding | read | loaded | rejected |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {f.path} | {f.file_format} | {f.encoding} | {f.rows_read} | {f.rows_loaded} | {f.rows_rejected} |"
              for report in reports for f in report.files]
    return "\n".join(lines)


def freshness(contract: SourceContract) -> FreshnessPolicy:
    """When the source is due: the hotline every month, the others once a year. The asset warns when
    its last load is older than that, and fails a few days later (a delivery a little late is usual)."""
    due = timedelta(days=31) if contract.name == "hotline" else timedelta(days=366)
    return FreshnessPolicy.time_window(warn_window=due, fail_window=due + timedelta(days=14))


def ingestion_asset(contract: SourceContract) -> AssetsDefinition:
    @asset(
        freshness_policy=freshness(contract),
        name=contract.name,
        key_prefix="raw",
        group_name="raw",
        partitions_def=yearly,
        backfill_policy=BackfillPolicy.single_run(),  # a range of years is one run, one connection
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=f"{contract.title}: raw/{contract.name}/<year>/ loaded into {contract.table}; "
                    "rejected rows in raw.rejects.",
    )
    def _ingest(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        """The run's year, or each of its years in turn (each load replaces or extends its year
        atomically; a failure leaves that year as it was, the years before it loaded)."""
        import_gx_in_background()  # for the quality check that follows the loads
        try:
            key = settings.pii_key(warehouse.raw_path)
        except settings.PiiKeyMissing as error:
            raise Failure(description=f"{contract.name} was not loaded, the warehouse is unchanged: {error}") from None
        if problem := settings.locations_problem(warehouse.database_path, warehouse.units_path):
            raise Failure(description=f"{contract.name} was not loaded, the warehouse is unchanged: {problem}")
        for path, why in settings.unread_raw_paths(warehouse.raw_path):
            if path.is_relative_to(warehouse.raw_path / contract.name):
                context.log.warning(settings.not_read(path, why))
        reports = []
        with warehouse.connect() as con:
            for year in run_years(context):
                reports.append(_load_year(context, con, warehouse, year, key))
        ignored = {f.path: f.ignored_headers for r in reports for f in r.files if f.ignored_headers}
        return MaterializeResult(metadata={
            "mode": ", ".join(sorted({r.mode for r in reports})),
            "files_kept": sum(r.files_kept for r in reports),
            "rows_read": sum(r.rows_read for r in reports),
            "rows_loaded": sum(r.rows_loaded for r in reports),
            "rows_rejected": sum(r.rows_rejected for r in reports),
            "files": MetadataValue.md(_files_table(reports) if any(r.files for r in reports)
                                      else "no file read (nothing new under raw/)"),
            "load_id": ", ".join(r.load_id for r in reports if r.load_id),
            "ignored_columns": MetadataValue.json(ignored),
            "files_gone": MetadataValue.json({name: rows for r in reports for name, rows in r.files_gone}),
        })

    def _load_year(context: AssetExecutionContext, con, warehouse: Warehouse, year: int, key: str) -> LoadReport:
        try:
            report = ingest(con, contract, year, warehouse.raw_path, warehouse.units_path, key,
                            progress=lambda read: context.log.info(f"{contract.name} {year}: {read}"))
        except SourceFileError as error:  # `from None`: the message is the sanitised account of the cause
            raise Failure(
                description=f"{contract.name} {year} was not loaded, the warehouse is unchanged: {error}",
                metadata={"file": str(error.path), "problem": error.problem},
            ) from None
        except WarehouseWriteError as error:
            raise Failure(description=f"{contract.name} {year} was not loaded, the warehouse is unchanged: {error}"
                          ) from None
        for name, rows in report.files_gone:
            context.log.warning(f"{name} was loaded before ({rows:,} rows) and is no longer under raw/: its rows"
                                " were removed from the warehouse")
        for file in report.files:
            if file.ignored_headers:
                context.log.warning(f"{file.path}: column(s) {', '.join(file.ignored_headers)} are not in the"
                                    " contract and were not loaded")
        if not report.files and not report.files_kept:
            folder = warehouse.raw_path / contract.name / str(year)
            context.log.info(f"{contract.name} {year}: no raw data ({folder} has no file); nothing to load")
        context.log.info(f"{contract.name} {year} ({report.mode}): {report.rows_loaded} rows loaded, "
                         f"{report.rows_rejected} rejected, from {len(report.files)} file(s) read; "
                         f"{report.files_kept} file(s) loaded earlier kept")
        return report

    return _ingest


ingestion_assets = [ingestion_asset(contract) for contract in SOURCES.values()]

