"""The Dagster instance's storage (orchestration/lib/dagster_storage.py): Dagster's SQLite files, the
event log kept open in WAL mode, and everything still readable by a new instance (the UI's)."""

import sqlite3
from contextlib import closing

import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize

from orchestration.lib.dagster_storage import OPEN_FILES, EventLog
from orchestration.settings import PROJECT_ROOT


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


@asset
def counted() -> int:
    return 1


def test_the_projects_instance_stores_events_in_wal_mode_and_a_new_instance_reads_them(home):
    instance = DagsterInstance.get()
    assert isinstance(instance.event_log_storage, EventLog)
    run_ids = [materialize([counted], instance=instance).run_id for _ in range(OPEN_FILES + 2)]
    shard = home / "history" / "runs" / f"{run_ids[-1]}.db"
    with closing(sqlite3.connect(shard)) as con:
        assert con.execute("pragma journal_mode").fetchone() == ("wal",)
    assert len(instance.event_log_storage._engines) <= OPEN_FILES  # older runs' files were closed

    instance.dispose()
    assert not shard.with_name(shard.name + "-wal").exists()  # folded back into the file when closed
    reader = DagsterInstance.from_config(str(home))  # as the UI and the daemon open it
    assert len(reader.fetch_materializations(AssetKey("counted"), limit=100).records) == len(run_ids)
    assert {r.run_id for r in reader.get_runs()} == set(run_ids)
    assert reader.get_latest_materialization_event(AssetKey("counted")).run_id == run_ids[-1]


def test_the_private_members_it_overrides_still_exist(tmp_path):
    """EventLog replaces SqliteEventLogStorage._connect and relies on these: a Dagster upgrade that
    renames them must fail here, not at run time."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    for name in ("_connect", "_initdb", "conn_string_for_shard", "wipe", "dispose"):
        assert callable(getattr(SqliteEventLogStorage, name)), name
    storage = SqliteEventLogStorage.__new__(SqliteEventLogStorage)
    SqliteEventLogStorage.__init__(storage, str(tmp_path))
    assert hasattr(storage, "_db_lock") and hasattr(storage, "_initialized_dbs")


def test_a_table_found_once_is_not_looked_for_again_until_a_wipe(home, monkeypatch):
    """Dagster asks whether its tables exist before storing nearly every event, each time through
    a new engine: the event log asks SQLite about each table once."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    asked = []
    looked_up = SqliteEventLogStorage.has_table
    monkeypatch.setattr(SqliteEventLogStorage, "has_table", lambda self, name: asked.append(name) or looked_up(self, name))
    instance = DagsterInstance.get()
    for _ in range(3):
        materialize([counted], instance=instance)
    assert asked and len(asked) == len(set(asked))  # each table once, however many events
    assert not instance.event_log_storage.has_table("no_such_table")  # a table not found is not remembered
    assert asked.count("no_such_table") == 1 and not instance.event_log_storage.has_table("no_such_table")
    assert asked.count("no_such_table") == 2

    asked.clear()
    instance.event_log_storage.wipe()
    assert instance.event_log_storage.has_table("asset_event_tags")
    assert asked.count("asset_event_tags") == 1  # looked for again once the storage was wiped
    materialize([counted], instance=instance)
    assert len(instance.fetch_materializations(AssetKey("counted"), limit=100).records) == 1
