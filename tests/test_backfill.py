"""A two-year backfill through the Dagster run machinery: the backfill daemon submits the runs, the
queued run coordinator launches them, the warehouse pool serialises their steps, and each run ends
with the county portraits of its year and the serving file."""

import os
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from orchestration.lib.duck import connect
from orchestration.settings import PROJECT_ROOT
from tests.conftest import stop_session

BIN = Path(sys.executable).parent
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def test_a_two_year_backfill_runs_through_the_daemon_and_completes(raw, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    warehouse = tmp_path / "w" / "jingtu.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "JINGTU_RAW": str(raw), "JINGTU_WAREHOUSE": str(warehouse),
           "JINGTU_PII_SALT": "backfill-test"}
    module = ["-m", "orchestration.definitions"]
    subprocess.run([BIN / "dagster", "job", "backfill", *module, "-j", "yearly_evaluation",
                    "--partitions", "2017,2018", "--noprompt"], env=env, check=True, capture_output=True)
    log = tmp_path / "daemon.log"
    # A session of its own, so that the daemon's code server is stopped with it.
    with log.open("w") as out:  # the daemon writes to its own copy of the descriptor
        daemon = subprocess.Popen([BIN / "dagster-daemon", "run", *module], env=env, start_new_session=True,
                                  stdout=out, stderr=subprocess.STDOUT)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    try:
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 600
            runs = []
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name="yearly_evaluation"))
                if len(runs) == 2 and all(run.status in TERMINAL for run in runs):
                    break
                time.sleep(1)
            assert sorted((run.tags["dagster/partition"], run.status) for run in runs) == [
                ("2017", DagsterRunStatus.SUCCESS), ("2018", DagsterRunStatus.SUCCESS)], log.read_text()[-3000:]
            assert all(run.tags.get("dagster/backfill") for run in runs)
            for run in runs:  # each run published and wrote its portraits itself
                done = {record.asset_key.to_user_string() for record in instance.get_records_for_run(
                    run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records}
                assert {"serving/bi_database", "reports/county_portraits", "marts/fct_early_warnings"} <= done
    finally:
        stop_session(daemon, grace=60)
    with connect(warehouse) as con:
        assert con.execute("select year, count(*) from marts.fct_county_evaluation group by 1 order by 1"
                           ).fetchall() == [(2017, 11), (2018, 11)]
    assert {p.name for p in (warehouse.parent / "reports").iterdir()} >= {"index.html", "portrait_2017.html",
                                                                         "portrait_2018.html", "plotly.min.js"}
    with connect(warehouse.parent / "serving.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_county_evaluation").fetchone()[0] >= 11
