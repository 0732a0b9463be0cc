"""A SQLAlchemy dialect that lets Great Expectations' SQL datasource read the DuckDB warehouse.

duckdb-engine's own dialect loses query results under GX: SQLAlchemy rolls back its implicit
transaction when GX closes the connection, and the rollback wipes DuckDB's pending result, so every
metric comes back empty. DuckDB commits each statement on its own, so this dialect makes
begin/commit/rollback no-ops. It also opens the file the one way the project does
(`orchestration.lib.duck.connect`), so a GX connection and a loader connection in the same process
have the same configuration, as DuckDB requires.
"""

from typing import Any

from duckdb_engine import ConnectionWrapper
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL
from sqlalchemy.sql.compiler import OPERATORS
from sqlalchemy.sql.elements import BindParameter

from orchestration.lib.duck import RUN_LOCK_WAIT, connect

NAME = "jingtu_duckdb"


class LiteralCompiler(DuckDBDialect.statement_compiler):
    """Writes values into the SQL instead of binding them (GX's statements run once each, and a
    parameterised INSERT … SELECT was far slower in our loader), and `IN` lists as `list_contains`,
    far faster than `NOT IN (codes)` over every ticket (README, "Quality gates")."""

    def visit_bindparam(self, bindparam, within_columns_clause=False, literal_binds=False, **kw):
        return super().visit_bindparam(bindparam, within_columns_clause, literal_binds=True, **kw)

    def visit_in_op_binary(self, binary, operator, **kw):
        """`x IN ('a', …)` as `list_contains(['a', …], x)`."""
        if not _is_value_list(binary.right):
            return self._generate_generic_binary(binary, OPERATORS[operator], **kw)
        return f"list_contains([{self.process(binary.right, **kw).strip()[1:-1]}], {self.process(binary.left, **kw)})"

    def visit_not_in_op_binary(self, binary, operator, **kw):
        if not _is_value_list(binary.right):
            return super().visit_not_in_op_binary(binary, operator, **kw)
        return f"(NOT {self.visit_in_op_binary(binary, operator, **kw)})"


def _is_value_list(element) -> bool:
    return isinstance(element, BindParameter) and element.expanding and bool(element.value)


class Dialect(DuckDBDialect):
    supports_statement_cache = False
    statement_compiler = LiteralCompiler

    def connect(self, *cargs: Any, **cparams: Any) -> ConnectionWrapper:
        database = cargs[0] if cargs else cparams.get("database", ":memory:")
        con = connect(database, read_only=bool(cparams.get("read_only", False)), wait=RUN_LOCK_WAIT)
        _opened.append(con)
        return ConnectionWrapper(con)

    def do_begin(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass


registry.register(NAME, __name__, "Dialect")

# GX builds several engines of its own and keeps their pools; the connections are tracked here so
# that they can all be closed when a validation ends (an open one locks the file against dbt).
_opened: list = []


def close_connections() -> None:
    while _opened:
        _opened.pop().close()


def connection_string(database) -> str:
    """The URL of `database` for GX, its path escaped: SQLAlchemy decodes %xx in a URL's path, and a '?'
    or '#' ends it, so a folder named `50%20` had GX check a new, empty database in `50 ` instead."""
    return URL.create(NAME, database=str(database)).render_as_string()
