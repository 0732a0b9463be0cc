"""Publishing the marts to a separate, read-only DuckDB file for BI tools.

DuckDB allows one writing process per file and a reader blocks the writer, so BI tools never open
the warehouse: they read `serving.duckdb`, which is rebuilt beside it and swapped in with an
atomic rename. A reader that has the old file open keeps reading it; the next one opens the new one.
Neither ever sees a half-written state. The file is published read-only (mode 0444).
"""

import os
from pathlib import Path

from orchestration.lib.duck import open_checked, sql_literal

PUBLISHED_SCHEMAS = ("marts",)
# Nobody but root can open the published file for writing (DuckDB needs write access for that), so
# no BI client can change a grade or, by holding a writing connection, lock the readers out.
READ_ONLY = 0o444


def _copy_comments(con, tables: list[tuple[str, str]]) -> None:
    """The tables' and columns' comments (the dbt docs, persisted by dbt) onto their published copies:
    a BI tool shows them beside each table and column."""
    published = set(tables)
    for schema, table, comment in con.execute(
            "select schema_name, table_name, comment from duckdb_tables()"
            " where database_name = current_database() and comment is not null").fetchall():
        if (schema, table) in published:
            con.execute(f"comment on table published.{schema}.{table} is {sql_literal(comment)}")
    for schema, table, column, comment in con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns()"
            " where database_name = current_database() and comment is not null").fetchall():
        if (schema, table) in published:
            con.execute(f'comment on column published.{schema}.{table}."{column}" is {sql_literal(comment)}')


class NothingToPublish(Exception):
    """The warehouse holds no marts: the serving file is left as it was."""


def publish(warehouse: Path, serving: Path, wait: float = 0.0) -> dict[str, int]:
    """Copy every table of the published schemas into `serving`, atomically; rows per table. A warehouse
    that is missing, locked (after `wait` seconds) or damaged raises DatabaseUnavailable, one without
    marts NothingToPublish (a mistyped JINGTU_WAREHOUSE, say), rather than replace what BI tools read
    with an empty file."""
    con = open_checked(warehouse, read_only=False, wait=wait)  # before anything is written
    serving.parent.mkdir(parents=True, exist_ok=True)
    for stale in serving.parent.glob(f".{serving.name}.*.tmp*"):  # a killed publication's file and its .wal
        stale.unlink()
    staging = serving.with_name(f".{serving.name}.{os.getpid()}.tmp")
    counts = {}
    with con:
        tables = con.execute(f"""
            select table_schema, table_name from information_schema.tables
            where table_catalog = current_database() and table_type = 'BASE TABLE'
              and table_schema in ({", ".join(f"'{s}'" for s in PUBLISHED_SCHEMAS)})
            order by all""").fetchall()
        if not tables:
            raise NothingToPublish(f"{warehouse} holds no marts")
        con.execute(f"attach {sql_literal(staging)} as published")
        try:
            for schema in {s for s, _ in tables}:
                con.execute(f"create schema published.{schema}")
            for schema, table in tables:
                con.execute(f"create table published.{schema}.{table} as select * from {schema}.{table}")
                counts[f"{schema}.{table}"] = con.execute(
                    f"select count(*) from published.{schema}.{table}").fetchone()[0]
            _copy_comments(con, tables)
            con.execute(f"""create table published.main.published_at as
                            select now()::timestamp as published_at, {len(tables)} as tables""")
        finally:
            con.execute("detach published")  # checkpoints: the file is complete before the swap
    staging.with_name(staging.name + ".wal").unlink(missing_ok=True)  # empty after the checkpoint
    os.chmod(staging, READ_ONLY)
    os.replace(staging, serving)
    return counts
