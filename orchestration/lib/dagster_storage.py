"""Dagster's SQLite storage (same files, same layout under DAGSTER_HOME), with a cheaper event log.

Dagster's SQLite event log builds a database engine, opens a connection, commits with a full
journal sync and disposes the engine for every event it stores, twice for an asset event (its
run's file and the cross-run index), and asks whether its tables exist, through an engine of its
own, once or twice more. A run of a range of years stores thousands of events, and this ceremony
cost more than the dbt models it reports on (bench/results/pipeline.md). Here each file keeps one
engine, the files are in WAL mode with `synchronous = NORMAL`, SQLite's own advice for this use (a
commit no longer waits for the disk, and a crash loses at most the last events, never the file),
and a table found once is known to exist. dagster.yaml names this class (`storage: custom:`).
"""

import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy.engine import Connection, Engine

OPEN_FILES = 8  # engines kept: the cross-run index and the latest runs' files


def _dispose(engines: OrderedDict) -> None:
    while engines:
        engines.popitem()[1].dispose()


def _fast_journal(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("pragma journal_mode = wal")
    cursor.execute("pragma synchronous = normal")
    cursor.close()


class EventLog(SqliteEventLogStorage):
    """The run-sharded SQLite event log, each shard's engine kept open (up to OPEN_FILES)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()  # tables of the cross-run index known to exist
        # closed when the storage goes, or at exit: SQLite then folds each file's WAL back into it
        weakref.finalize(self, _dispose, self._engines)
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "EventLog":
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = sqlalchemy.create_engine(self.conn_string_for_shard(shard),
                                              connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            sqlalchemy.event.listen(engine, "connect", _fast_journal)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
        self._engines[shard] = engine  # the most recently used last
        while len(self._engines) > OPEN_FILES:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before storing nearly every event. A table, once there, stays (a wipe aside);
        one not there yet may come with a migration, so only a table found is remembered."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def wipe(self) -> None:
        with self._db_lock:  # its files are removed
            _dispose(self._engines)
            self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            _dispose(self._engines)
        super().dispose()


class Storage(DagsterSqliteStorage):
    """DagsterSqliteStorage with the event log above; runs and schedules as Dagster stores them."""

    def __init__(self, base_dir: str, inst_data=None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = EventLog(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "Storage":
        return cls.from_local(inst_data=inst_data, **config_value)
