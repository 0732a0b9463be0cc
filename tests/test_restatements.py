"""Restatements, end to end: a year's raw files re-delivered keep the published grades, store the
restated ones beside them with the change attributed to the indicators and the changed file named,
add nothing on a re-run with nothing new; and the audit of a published grade in one query, which
`jingtu audit` prints."""

import csv
import hashlib
import io
import shutil

import pytest

from orchestration import cli
from orchestration.audit import AUDIT_SQL
from orchestration.contracts import SOURCES
from orchestration.ingest import ingest
from orchestration.lib.duck import connect
from orchestration.serving import publish
from tests.conftest import SALT, UNITS_CSV, query, run_dbt

YEAR, UNIT = 2017, "511102"
CASES = f"cases/{YEAR}/cases_{YEAR}.csv"


def build(warehouse):
    run_dbt(warehouse, "build", "--exclude", "path:models/monitoring", year=YEAR)


def redeliver_cases(raw) -> None:
    """The cases of 2017 again, with the unit's old misconduct dated after the cut-off: its cases
    become new-occurrence, so its clean-governance indicator and composite fall."""
    path = raw / CASES
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    county, misconduct = header.index("区县代码"), header.index("最后违纪时间")
    changed = 0
    for row in rows[1:]:
        if len(row) == len(header) and row[county] == UNIT and row[misconduct] < "2012-11-08":
            row[misconduct], changed = "2016-01-01", changed + 1
    assert changed
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8-sig")


@pytest.fixture(scope="module")
def restated(small_raw_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("restated")
    raw, warehouse = root / "raw", root / "jingtu.duckdb"
    shutil.copytree(small_raw_template, raw)

    def load(source: str):
        with connect(warehouse) as con:
            return ingest(con, SOURCES[source], YEAR, raw, UNITS_CSV, SALT)

    for source in SOURCES:
        load(source)
    run_dbt(warehouse, "seed")
    build(warehouse)
    published = query(warehouse, "select * from marts.fct_county_evaluation_published order by county_code")
    redeliver_cases(raw)
    assert load("cases").mode == "full"
    build(warehouse)
    return {"warehouse": warehouse, "published": published, "raw": raw}


def test_a_redelivery_keeps_the_published_grades_and_stores_the_restated_beside_them(restated):
    warehouse = restated["warehouse"]
    assert query(warehouse, "select * from marts.fct_county_evaluation_published order by county_code") \
        == restated["published"]  # untouched, publication time included
    rows = query(warehouse, """
        select county_code, published_composite, restated_composite, composite_change, changed_files,
               list_sum([i.contribution for i in indicator_changes]), published_grade, restated_grade
        from marts.fct_restatements""")
    assert [r[0] for r in rows] == [UNIT]  # only the unit whose cases changed
    _, was, now, change, files, by_indicator, grade_was, grade_now = rows[0]
    (current,) = query(warehouse, "select composite, grade from marts.fct_county_evaluation "
                                  f"where year = {YEAR} and county_code = '{UNIT}'")
    assert (now, grade_now) == current and now < was
    (published,) = query(warehouse, "select composite, grade from marts.fct_county_evaluation_published"
                                    f" where year = {YEAR} and county_code = '{UNIT}'")
    assert (was, grade_was) == published
    assert change == pytest.approx(now - was) and by_indicator == pytest.approx(change, abs=1e-9)
    assert files == [CASES]
    (indicators,) = query(warehouse, "select indicator_changes from marts.fct_restatements")[0]
    moved = {i["indicator"] for i in indicators if abs(i["contribution"]) > 1e-12}
    assert moved == {"clean_governance"}


def test_a_rerun_with_nothing_new_adds_no_restatement(restated):
    build(restated["warehouse"])
    assert query(restated["warehouse"], "select count(*) from marts.fct_restatements") == [(1,)]


def test_jingtu_restatements_prints_them(restated, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy" / restated["warehouse"].name
    copy.parent.mkdir()
    shutil.copyfile(restated["warehouse"], copy)
    publish(copy, tmp_path / "serving.duckdb")
    monkeypatch.setenv("JINGTU_SERVING", str(tmp_path / "serving.duckdb"))
    assert cli.main(["restatements", "--year", str(YEAR)]) == 0
    out = capsys.readouterr().out
    assert f"{YEAR} {UNIT} 市中区:" in out and "by indicator: clean_governance -" in out
    assert f"changed files: {CASES}" in out
    assert cli.main(["restatements", "--year", "2016"]) == 2  # never published: nothing stands, nothing restated
    assert "2016 has no published grades: materialise it first" in capsys.readouterr().err
    with connect(copy) as con:  # the same publication without its restatement
        con.execute("delete from marts.fct_restatements")
    publish(copy, tmp_path / "serving.duckdb")
    assert cli.main(["restatements", "--year", str(YEAR)]) == 0
    assert f"no restatement of {YEAR}: every published grade stands" in capsys.readouterr().out


def test_a_change_too_small_for_two_decimals_is_shown_to_its_first_two_significant_digits():
    # A re-delivery that moves a composite by 0.000058 is a restatement; "+0.00" would read as none.
    assert [cli.signed(change) for change in (5.818709533400579e-05, -0.00027110045995470955, -0.004, 1.234, -0.005, 0.0)] \
        == ["+0.000058", "-0.00027", "-0.0040", "+1.23", "-0.01", "+0.00"]


def test_one_query_audits_a_published_grade(restated):
    raw = restated["raw"]
    with connect(restated["warehouse"]) as con:
        result = con.execute(AUDIT_SQL, {"year": YEAR, "county": "511111"})
        names = [d[0] for d in result.description]
        files = [dict(zip(names, row)) for row in result.fetchall()]
    assert {f["methodology_version"] for f in files} == {"2019.1"} and {f["grade"] for f in files} != {None}
    paths = {f["path"] for f in files}
    assert {p.relative_to(raw).as_posix() for p in raw.glob(f"*/{YEAR}/*") if p.is_file()} == paths
    unchanged = [f for f in files if f["path"] != CASES]  # CSV (counted and hashed in one pass) and xlsx
    assert {f["path"].rsplit(".", 1)[1] for f in unchanged} == {"csv", "xlsx"}
    assert all(f["sha256"] == hashlib.sha256((raw / f["path"]).read_bytes()).hexdigest() for f in unchanged)
    development = next(f for f in files if f["source"] == "development")
    assert development["bytes"] == (raw / development["path"]).stat().st_size and development["load_id"]
    # the rows rejected from each file as published, with their line and rule
    assert development["rows_rejected"] == len(development["rejected_rows"]) > 0
    assert all(r["line"] > 1 and r["reason"] for r in development["rejected_rows"])
    # the re-delivered cases were reloaded: their published load's rejects went with it
    cases = next(f for f in files if f["path"] == CASES)
    assert cases["rejected_rows"] is None


def test_jingtu_audit_prints_a_published_grade_with_its_files_and_rejects(restated, monkeypatch, capsys):
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(restated["warehouse"]))
    raw = restated["raw"]
    assert cli.main(["audit", "--year", str(YEAR), "--county", "511111", "--rejects", "1"]) == 0
    out = capsys.readouterr().out
    assert "restated" not in out.splitlines()[1]  # its grade stands
    (grade,) = query(restated["warehouse"], "select grade from marts.fct_county_evaluation_published"
                                            f" where year = {YEAR} and county_code = '511111'")[0]
    assert out.startswith(f"{YEAR} 511111 沙湾区: {grade}, composite ") and "methodology 2019.1" in out
    development = next(p for p in raw.glob(f"development/{YEAR}/*") if p.is_file())
    digest = hashlib.sha256(development.read_bytes()).hexdigest()
    assert f"  {development.relative_to(raw).as_posix()}: {development.stat().st_size:,} bytes, sha256 {digest}" in out
    (rejected,) = query(restated["warehouse"], "select count(*) from raw.rejects where source = 'development'"
                                               f" and partition_year = {YEAR}")[0]
    assert rejected > 1 and f"… {rejected - 1:,} more (--rejects {rejected} shows them all)" in out
    lines = out.splitlines()
    after_cases = lines[next(i for i, line in enumerate(lines) if line.startswith(f"  {CASES}:")) + 1]
    assert after_cases.startswith("    re-delivered since publication and reloaded")
    assert cli.main(["audit", "--year", "2016", "--county", "511111"]) == 2
    assert "511111 has no published grade for 2016" in capsys.readouterr().err
    assert cli.main(["audit", "--year", str(YEAR), "--county", UNIT]) == 0  # the unit the re-delivery restated
    (grade, composite, change) = query(restated["warehouse"], "select restated_grade, restated_composite,"
                                                              " composite_change from marts.fct_restatements")[0]
    second = capsys.readouterr().out.splitlines()[1]
    assert second.startswith("  restated ") and second.endswith(
        f": {grade}, composite {composite:.2f} ({cli.signed(change)}) (jingtu restatements)")


def test_jingtu_audit_masks_a_reason_stored_in_clear_by_an_older_loader(restated, tmp_path, monkeypatch, capsys):
    copy = tmp_path / restated["warehouse"].name
    shutil.copyfile(restated["warehouse"], copy)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(copy))
    with connect(copy) as con:  # as a loader before reasons were masked kept one
        con.execute("update raw.rejects set reason = '区县代码 (county_code) \"13912345678\" is not a configured unit'"
                    f" where source = 'development' and partition_year = {YEAR}")
    assert cli.main(["audit", "--year", str(YEAR), "--county", "511111"]) == 0
    out = capsys.readouterr().out
    assert '区县代码 (county_code) "[手机号]" is not a configured unit' in out and "13912345678" not in out


def test_jingtu_audit_names_a_file_gone_from_raw_since_publication(restated, tmp_path, monkeypatch, capsys):
    copy = tmp_path / restated["warehouse"].name
    shutil.copyfile(restated["warehouse"], copy)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(copy))
    with connect(copy) as con:  # as a reload of the year without the development file leaves it
        (development,) = con.execute("select source_file from raw.load_files where source = 'development'"
                                     f" and partition_year = {YEAR}").fetchone()
        con.execute(f"delete from raw.load_files where source = 'development' and partition_year = {YEAR}")
    assert cli.main(["audit", "--year", str(YEAR), "--county", "511111"]) == 0
    lines = capsys.readouterr().out.splitlines()
    after = lines[next(i for i, line in enumerate(lines) if line.startswith(f"  {development}:")) + 1]
    assert after == "    no longer under raw/ since publication: its rows were removed (jingtu restatements)"
