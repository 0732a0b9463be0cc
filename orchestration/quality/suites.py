"""The Great Expectations suites, written from the source contracts.

`jingtu suites` writes them to `expectations/<suite>.json`; the checks read them from there, and a
test fails when the files drift from what this module writes. Each suite says which rows it
validates (`meta.batch`, SQL with a `{years}` placeholder, the years validated together) and each expectation says in words what
it guards (`meta.rule`), which is what a failing check reports. Raw suites (`meta.by_load`) may be
narrowed to the loads not validated yet, so that appending a month re-checks only that month.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from orchestration import settings
from orchestration.contracts import LINEAGE_COLUMNS, SOURCES, Column, SourceContract
from orchestration.lib import pii

# Parameters filled in at validation time (`validate.suite_parameters`), so the suites do not
# hard-code the unit list.
UNITS = {"$PARAMETER": "configured_units"}
UNITS_AND_CITY = {"$PARAMETER": "configured_units_and_city"}


@dataclass(frozen=True)
class Suite:
    name: str
    batch: str  # the rows validated, SQL with a {years} placeholder
    expectations: list[dict]
    by_load: bool = False  # the rows carry `load_id`: a check may validate only the loads not yet validated

    def to_json(self) -> dict:
        return {"name": self.name, "meta": {"batch": self.batch, "by_load": self.by_load,
                                            "generated_by": "jingtu suites"},
                "expectations": self.expectations}


def expectation(type_: str, rule: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"rule": rule}}


def unexpected_rows(rule: str, query: str) -> dict:
    """A rule as SQL returning the rows that break it, reading the validated rows as `batch` (regex
    expectations do not run on DuckDB). GX formats the query, so literal braces are doubled.
    `not materialized`: DuckDB materialises a CTE read more than once, which at the national scale
    spilled many times the data's size to disk."""
    query = query.replace("{", "{{").replace("}", "}}")
    return expectation("unexpected_rows_expectation", rule, description=rule,
                       unexpected_rows_query=f"with batch as not materialized (select * from {{batch}}) {query}")


def rows_where(condition: str) -> str:
    return f"select * from batch where {condition}"


def _column_expectations(column: Column, contract: SourceContract) -> list[dict]:
    name, label = column.warehouse_name, column.label()
    out = []
    if column.required:
        out.append(expectation("expect_column_values_to_not_be_null", f"{label} is never empty", column=name))
    if column.county:
        units = UNITS_AND_CITY if contract.allow_municipal else UNITS
        out.append(expectation("expect_column_values_to_be_in_set", f"{label} is a configured unit",
                               column=name, value_set=units))
    if column.codes and column.sql_type != "boolean":  # a yes/no code is checked by its type
        out.append(expectation("expect_column_values_to_be_in_set", f"{label} is one of its codes",
                               column=name, value_set=list(column.codes.values())))
    elif column.values:
        out.append(expectation("expect_column_values_to_be_in_set",
                               f"{label} is one of {'/'.join(column.values)}", column=name,
                               value_set=list(column.values)))
    bounds = {}
    if column.minimum is not None:
        bounds["min_value"] = column.minimum
    if column.maximum is not None:
        bounds["max_value"] = column.maximum
    if column.above is not None:
        bounds.update(min_value=column.above, strict_min=True)
    if bounds:
        words = " and ".join(f"{'above' if k == 'min_value' and column.above is not None else k[:3]} {v:g}"
                             for k, v in bounds.items() if k != "strict_min")
        out.append(expectation("expect_column_values_to_be_between", f"{label} is {words}", column=name, **bounds))
    if column.pii == "hash":
        out.append(unexpected_rows(f"{label} is stored only as an HMAC-SHA256 (64 hex digits)",
                                   rows_where(f"not regexp_full_match({name}, '[0-9a-f]{{64}}')")))
    elif column.pii == "mask":
        out.append(unexpected_rows(f"{label} holds no mobile, ID or other number of 11+ digits in clear",
                                   rows_where(f"regexp_matches({name}, '{pii.LEFT_IN_CLEAR}')")))
    if contract.typed_by_hand(column):
        out.append(unexpected_rows(f"{label} holds no ID card, bank card or mobile number",
                                   rows_where(f"regexp_matches({name}, '{pii.PERSONAL_NUMBER}')")))
    if column.past:
        out.append(unexpected_rows(f"{label} is not after the time it was loaded",
                                   rows_where(f"{name} > loaded_at + interval 1 day")))
    return out


def raw_suite(contract: SourceContract) -> Suite:
    """What every loaded row of a source must satisfy: the contract, checked again on the table."""
    stored = contract.stored_columns
    columns = ["partition_year", *(c.warehouse_name for c in stored), *LINEAGE_COLUMNS]
    expectations = [expectation("expect_table_columns_to_match_set",
                                "the table has exactly the contract's columns (no personal data in clear)",
                                column_set=columns, exact_match=True)]
    for column in stored:
        expectations += _column_expectations(column, contract)
    # Over the whole partition, not only the rows validated: an appended file must not repeat a key.
    # Repeated 64-bit hashes are found first, as the loader does: the national year's text keys do
    # not fit the default memory limit.
    key = f"hash(partition_year, {', '.join(contract.key)})"
    years = "partition_year in (select distinct partition_year from batch)"
    repeated = f"select {key} from {contract.table} where {years} group by all having count(*) > 1"
    expectations.append(unexpected_rows(
        f"{contract.key_label} is unique in the year",
        f"select partition_year, {', '.join(contract.key)}, count(*) as occurrences from {contract.table}"
        f" where {years} and {key} in (select {key} from batch where {key} in ({repeated}))"
        f" group by all having count(*) > 1"))
    expectations.append(unexpected_rows("every row belongs to its partition's year",
                                        rows_where(f"({contract.year_expression}) is distinct from partition_year")))
    for rule in contract.row_rules:
        expectations.append(unexpected_rows(f"no row where {rule.description}",
                                            rows_where(rule.violated)))
    return Suite(f"raw_{contract.name}", f"select * from {contract.table} where partition_year in ({{years}})",
                 expectations, by_load=True)


def files_suite(contract: SourceContract) -> Suite:
    """The partition's files: every row accounted for, and no more rejected than the contract allows."""
    limit = contract.max_reject_rate
    expectations = [
        unexpected_rows(
            f"no file has more than {limit:.0%} of its rows rejected (a corrected file replaces the one it"
            " corrects; delivered beside it, its rows are duplicates: README, 'Delivering a correction')",
            "select source_file, rows_read, rows_rejected, round(reject_rate, 4) as reject_rate,"
            " (select string_agg(distinct first_file, ', ' order by first_file) from ("
            "  select case when first_file = batch.source_file then '(itself)' else first_file end as first_file"
            "  from (select regexp_extract(r.reason, ' of (.*)\\)$', 1) as first_file from raw.rejects as r"
            "  where r.source = batch.source and r.partition_year = batch.partition_year"
            "  and r.source_file = batch.source_file and r.reason like 'duplicate %'))) as duplicates_of"
            f" from batch where reject_rate > {limit}"),
        unexpected_rows("every row read is loaded or rejected, and the tables hold exactly those rows",
                        rows_where("rows_loaded + rows_rejected <> rows_read"
                                   f" or rows_loaded <> (select count(*) from {contract.table} as t"
                                   " where t.partition_year = batch.partition_year"
                                   " and t.source_file = batch.source_file)"
                                   " or rows_rejected <> (select count(*) from raw.rejects as r"
                                   " where r.source = batch.source and r.partition_year = batch.partition_year"
                                   " and r.source_file = batch.source_file)")),
    ]
    return Suite(f"raw_{contract.name}_files",
                 "select *, rows_rejected / rows_read as reject_rate from raw.load_files"
                 f" where source = '{contract.name}' and partition_year in ({{years}})", expectations, by_load=True)


def all_suites() -> list[Suite]:
    """The raw layer's suites. The marts and the methodology are checked by dbt (its tests, and the
    build guards in macros/), each rule by one tool."""
    return [s for contract in SOURCES.values() for s in (raw_suite(contract), files_suite(contract))]


def suite_path(name: str, folder: Path | None = None) -> Path:
    return (folder or settings.expectations_dir()) / f"{name}.json"


def write_suites(folder: Path | None = None) -> list[Path]:
    paths = []
    for suite in all_suites():
        path = suite_path(suite.name, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(suite.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def read_suite(name: str, folder: Path | None = None) -> Suite:
    data = json.loads(suite_path(name, folder).read_text(encoding="utf-8"))
    return Suite(data["name"], data["meta"]["batch"], data["expectations"], data["meta"].get("by_load", False))
