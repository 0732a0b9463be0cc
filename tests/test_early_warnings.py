"""The threshold early warnings (监土, methodology 2018.1, §5.2) against a small hand-made data set
whose alerts are known, thresholds at their boundaries; and the `jingtu alerts` command."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from orchestration import cli
from orchestration.lib.duck import connect
from tests.conftest import load_every_source, query, run_dbt, write_source

# The threshold rules are those of methodology 2018.1, chosen explicitly (the default is 2019.1).
THRESHOLD_RULES = ("--vars", json.dumps({"methodology_version": "2018.1"}))


def tickets(county: str, month: int, count: int, category: str = "干部作风", satisfied: int | None = None,
            rated: int = 0) -> list[dict]:
    """`count` closed tickets of 2018-`month`; the first `rated` rated, `satisfied` of them 满意."""
    rows = []
    for k in range(count):
        received = datetime(2018, month, 1 + k % 28, 9, 0, 0)
        rating = ("满意" if k < (satisfied or 0) else "不满意") if k < rated else ""
        rows.append({"ticket_id": f"T{county}{month:02d}{k:03d}", "received_at": f"{received:%Y-%m-%d %H:%M:%S}",
                     "caller_phone": "13800000000", "caller_name": "测试", "county_code": county,
                     "category": category, "content": "", "intake_line": "12345",
                     "due_at": f"{received + timedelta(days=7):%Y-%m-%d %H:%M:%S}",
                     "closed_at": f"{received + timedelta(days=1):%Y-%m-%d %H:%M:%S}", "status": "办结",
                     "rating": rating})
    return rows


def hotline() -> list[dict]:
    rows = []
    for month in (2, 3, 4):  # baselines of the May surge
        rows += tickets("511102", month, 10) + tickets("511111", month, 10) + tickets("511112", month, 5)
        if month != 3:  # 511113 has no ticket in March: no baseline, and a month without data
            rows += tickets("511113", month, 10)
    rows += tickets("511102", 5, 20)  # 20 > 1.5 × 10, not > 2.0 × 10: 黄
    rows += tickets("511111", 5, 21)  # 21 > 2.0 × 10: 橙
    rows += tickets("511112", 5, 19)  # ratio 3.8 but fewer than 20: none
    rows += tickets("511113", 5, 30)  # no complete baseline: none
    rows += tickets("511102", 7, 40, "其他", satisfied=36, rated=40)  # exactly 90 %: none
    rows += tickets("511111", 7, 40, "其他", satisfied=34, rated=40)  # exactly 85 %: 黄
    rows += tickets("511112", 7, 40, "其他", satisfied=33, rated=40)  # 82.5 %: 红
    rows += tickets("511113", 7, 40, "其他", satisfied=0, rated=29)  # fewer than 30 rated: none
    return rows


def inspection(county: str, due: str, found: int, rectified: int) -> dict:
    return {"inspection_id": f"X{county}", "round": "2018年第一轮", "inspection_type": "常规巡察", "county_code": county,
            "unit_name": "测试单位", "unit_type": "县级部门", "started_on": "2018-01-05", "ended_on": "2018-02-10",
            "problems_found": found, "clues_transferred": 0, "problems_rectified": rectified,
            "rectification_due_on": due}


INSPECTIONS = [
    inspection("511123", "2018-03-31", 20, 10),  # 10 overdue from April (due on March's last day): 黄
    inspection("511124", "2018-03-15", 20, 9),  # 11 overdue from March: 橙
    inspection("511126", "2018-03-15", 20, 20),  # all rectified: none
]


def cases() -> list[dict]:
    """Cases filed in January 2018. City-wide 30 of 100 are new-occurrence: the threshold is 35 %."""
    plan = [("511129", 10, 6),  # 60 %: 橙 all year (the trailing window holds January)
            ("511132", 9, 9),  # 100 %, but fewer than 10 cases: none
            ("511133", 20, 7),  # exactly 35 %: none
            ("511100", 61, 8)]  # the municipal level counts city-wide, raises nothing
    rows = []
    for county, filed, new in plan:
        for k in range(filed):
            rows.append({"record_id": f"C{county}{k:03d}", "county_code": county, "subject_id": f"S{county}{k}",
                         "subject_rank": "一般干部", "is_top_leader": "否", "category": "其他违纪",
                         "last_misconduct_on": "2015-01-01" if k < new else "2010-01-01",
                         "filed_on": "2018-01-15", "handled_on": "", "form": "", "outcome": "", "detained": "否"})
    return rows


EXPECTED = (
    {(date(2018, 5, 1), "511102", "conduct_complaint_surge", "黄"),
     (date(2018, 5, 1), "511111", "conduct_complaint_surge", "橙"),
     (date(2018, 7, 1), "511111", "hotline_satisfaction_drop", "黄"),
     (date(2018, 7, 1), "511112", "hotline_satisfaction_drop", "红")}
    | {(date(2018, m, 1), "511123", "overdue_rectification", "黄") for m in range(4, 13)}
    | {(date(2018, m, 1), "511124", "overdue_rectification", "橙") for m in range(3, 13)}
    | {(date(2018, m, 1), "511129", "new_occurrence_rising", "橙") for m in range(1, 13)}
)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    root = tmp_path_factory.mktemp("warnings")
    raw, warehouse = root / "raw", root / "jingtu.duckdb"
    write_source(raw / "hotline" / "2018" / "tickets.csv", "hotline", hotline())
    write_source(raw / "inspections" / "2018" / "xuncha.csv", "inspections", INSPECTIONS)
    write_source(raw / "cases" / "2018" / "cases.csv", "cases", cases())
    assert all(report.rows_rejected == 0 for report in load_every_source(warehouse, raw, [2018]))
    run_dbt(warehouse, "seed")
    run_dbt(warehouse, "build", "--select", "+path:models/monitoring", "--exclude", "resource_type:seed",
            *THRESHOLD_RULES)
    return warehouse


def test_each_signal_fires_exactly_where_the_rules_say(monitored):
    alerts = set(query(monitored, "select month, county_code, signal, severity from marts.fct_early_warnings"))
    assert alerts == EXPECTED


def test_a_run_for_a_range_of_months_replaces_those_months_and_the_later_ones_only(monitored, tmp_path):
    """The months after the range are built again (their windows reach back into it); those before stay."""
    warehouse = tmp_path / monitored.name  # the file's name is the catalog's, in dbt's relations
    shutil.copyfile(monitored, warehouse)
    with connect(warehouse) as con:
        con.execute("delete from marts.fct_early_warnings where month in ('2018-05-01', '2018-06-01')")
        con.execute("update marts.fct_early_warnings set severity = 'marked' where month in ('2018-04-01', '2018-07-01')")
    run_dbt(warehouse, "build", "--select", "path:models/monitoring", *THRESHOLD_RULES, months=("2018-05", "2018-06"))
    alerts = query(warehouse, "select month, county_code, signal, severity from marts.fct_early_warnings")
    from_may = {a for a in EXPECTED if a[0].month >= 5}
    assert {a for a in from_may if a[0].month in (5, 6)} and {a for a in from_may if a[0].month == 7}
    assert from_may <= set(alerts)  # rebuilt
    assert {a[3] for a in alerts if a[0].month == 4} == {"marked"}  # untouched


def test_alerts_carry_observed_value_threshold_and_observation_point(monitored):
    found = {(r[0], r[1]): r[2:] for r in query(monitored, """
        select county_code, signal, observed_value, threshold, observation_point from marts.fct_early_warnings
        where month = '2018-05-01' or (month = '2018-07-01' and signal = 'hotline_satisfaction_drop')
           or (month = '2018-06-01' and signal in ('overdue_rectification', 'new_occurrence_rising'))""")}
    assert found[("511102", "conduct_complaint_surge")] == (20, 15, "市心连心服务中心")
    assert found[("511111", "conduct_complaint_surge")] == (21, 20, "市心连心服务中心")
    assert found[("511112", "hotline_satisfaction_drop")] == (82.5, 85, "市心连心服务中心")
    assert found[("511124", "overdue_rectification")] == (11, 10, "市委巡察办")
    assert found[("511129", "new_occurrence_rising")] == (60, 35, "市纪委信访室")


def test_a_run_of_consecutive_alerts_remembers_its_first_month(monitored):
    starts = set(query(monitored, "select county_code, run_started_month from marts.fct_early_warnings "
                                  "where signal in ('overdue_rectification', 'new_occurrence_rising')"))
    assert starts == {("511123", date(2018, 4, 1)), ("511124", date(2018, 3, 1)), ("511129", date(2018, 1, 1))}


def test_a_month_without_data_is_told_apart_from_a_quiet_month(monitored):
    months = {r[0]: r[1:] for r in query(monitored, """
        select month, has_hotline_data, hotline_tickets, conduct_complaints, hotline_satisfaction_rate,
               conduct_baseline
        from marts.fct_monitoring_monthly where county_code = '511113'""")}
    assert len(months) == 12
    assert months[date(2018, 3, 1)] == (False, 0, 0, None, None)  # no data
    assert months[date(2018, 4, 1)] == (True, 10, 10, None, None)  # data, no rating, no full baseline
    assert months[date(2018, 7, 1)][:3] == (True, 40, 0)  # data, a quiet month for conduct complaints
    assert months[date(2018, 7, 1)][3] == 0.0


def test_the_municipal_level_raises_no_alert_but_counts_city_wide(monitored):
    assert query(monitored, "select count(*) from marts.fct_early_warnings where county_code = '511100'") == [(0,)]
    (share,) = query(monitored, "select distinct city_new_occurrence_share_12m from marts.fct_monitoring_monthly")
    assert share == (30.0,)


def test_jingtu_alerts_prints_a_month_and_exits_1_on_red(monitored, tmp_path, monkeypatch, capsys):
    shutil.copyfile(monitored, tmp_path / "reader.duckdb")
    monkeypatch.setenv("JINGTU_SERVING", str(tmp_path / "reader.duckdb"))
    damaged = tmp_path / "damaged.duckdb"  # the warehouse is not read: only the published file
    damaged.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(damaged))
    assert cli.main(["alerts", "--month", "2018-07"]) == 1
    out = capsys.readouterr().out
    assert "511112" in out and "红" in out and "12345群众满意率下降" in out
    assert cli.main(["alerts", "--month", "2018-05", "--county", "511111"]) == 0
    out = capsys.readouterr().out
    assert "511111" in out and "511102" not in out and "橙" in out
    assert cli.main(["alerts", "--month", "2019-01"]) == 2
    assert "has not been monitored" in capsys.readouterr().err
    assert cli.main(["alerts", "--month", "2018-07", "--county", "511199"]) == 2  # a code mistyped: not "no alerts"
    assert "--county 511199: no such unit was monitored in 2018-07" in capsys.readouterr().err


def test_jingtu_stops_quietly_when_what_reads_its_output_has_gone(monitored, tmp_path):
    """As `jingtu … | head` does once head has its lines: no traceback, a shell's status for SIGPIPE."""
    shutil.copyfile(monitored, tmp_path / "reader.duckdb")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    try:
        result = subprocess.run([Path(sys.executable).parent / "jingtu", "alerts", "--month", "2018-07"],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, check=False,
                                env={**os.environ, "JINGTU_SERVING": str(tmp_path / "reader.duckdb")})
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (cli.SIGPIPE_STATUS, "")
    assert cli.SIGPIPE_STATUS == 141


@pytest.mark.parametrize("serving", ["missing", "damaged"])
def test_jingtu_alerts_that_cannot_be_read_exit_3_never_1(tmp_path, monkeypatch, capsys, serving):
    path = tmp_path / "serving.duckdb"
    if serving == "damaged":
        path.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("JINGTU_SERVING", str(path))
    assert cli.main(["alerts", "--month", "2018-07"]) == cli.ERROR == 3
    err = capsys.readouterr().err
    assert "cannot read the alerts" in err and ("is damaged" if serving == "damaged" else "does not exist") in err
