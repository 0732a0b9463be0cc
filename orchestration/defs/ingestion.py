"""One asset per raw source, partitioned by year: raw/<source>/<YYYY>/ → raw.<source> in DuckDB."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration import settings
from orchestration.contracts import SOURCES, SourceContract
from orchestration.ingest import LoadReport, SourceFileError, WarehouseWriteError, ingest
from orchestration.partitions import yearly
from orchestration.resources import WAREHOUSE_POOL, Warehouse


def _files_table(report: LoadReport) -> str:
    lines = ["| file | format | encoding | read | loaded | rejected |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {f.path} | {f.file_format} | {f.encoding} | {f.rows_read} | {f.rows_loaded} | {f.rows_rejected} |"
              for f in report.files]
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
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=f"{contract.title}: raw/{contract.name}/<year>/ loaded into {contract.table}; "
                    "rejected rows in raw.rejects.",
    )
    def _ingest(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        year = int(context.partition_key)
        try:
            key = settings.pii_key(warehouse.raw_path)
            with warehouse.connect() as con:
                report = ingest(con, contract, year, warehouse.raw_path, warehouse.units_path, key)
        except SourceFileError as error:  # `from None`: the message is the sanitised account of the cause
            raise Failure(
                description=f"{contract.name} {year} was not loaded, the warehouse is unchanged: {error}",
                metadata={"file": str(error.path), "problem": error.problem},
            ) from None
        except (WarehouseWriteError, settings.PiiKeyMissing) as error:
            raise Failure(description=f"{contract.name} {year} was not loaded, the warehouse is unchanged: {error}"
                          ) from None
        ignored = {f.path: f.ignored_headers for f in report.files if f.ignored_headers}
        for path, headers in ignored.items():
            context.log.warning(f"{path}: column(s) {', '.join(headers)} are not in the contract and were not loaded")
        folder = warehouse.raw_path / contract.name / str(year)
        if not report.files and not report.files_kept:
            context.log.info(f"{contract.name} {year}: no raw data ({folder} has no file); nothing to load")
        context.log.info(f"{contract.name} {year} ({report.mode}): {report.rows_loaded} rows loaded, "
                         f"{report.rows_rejected} rejected, from {len(report.files)} file(s) read; "
                         f"{report.files_kept} file(s) loaded earlier kept")
        return MaterializeResult(metadata={
            "mode": report.mode,
            "files_kept": report.files_kept,
            "rows_read": report.rows_read,
            "rows_loaded": report.rows_loaded,
            "rows_rejected": report.rows_rejected,
            "files": MetadataValue.md(_files_table(report) if report.files
                                      else f"no file read ({folder.relative_to(warehouse.raw_path)}/ has none)"),
            "load_id": report.load_id or "",
            "ignored_columns": MetadataValue.json(ignored),
        })

    return _ingest


ingestion_assets = [ingestion_asset(contract) for contract in SOURCES.values()]

