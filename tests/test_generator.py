"""The sample generator writes exports the way the source systems do, and does it deterministically."""

import hashlib
import re
import shutil

import pytest

from orchestration.contracts import SOURCES
from orchestration.ingest import ingest
from orchestration.lib.duck import connect
from orchestration.sample import generate
from tests.conftest import load_every_source, query


def digest(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_seed_writes_the_same_bytes(small_raw_template, tmp_path):
    generate(tmp_path, hotline_scale=0.01, progress=lambda _: None)
    assert digest(tmp_path) == digest(small_raw_template)


def test_another_seed_writes_other_data(small_raw_template, tmp_path):
    generate(tmp_path, seed=7, hotline_scale=0.01, progress=lambda _: None)
    ours, theirs = digest(tmp_path), digest(small_raw_template)
    assert ours.keys() == theirs.keys()
    assert ours["cases/2017/cases_2017.csv"] != theirs["cases/2017/cases_2017.csv"]


def test_exports_mix_encodings_and_formats_like_real_ones(small_raw_template):
    files = {p.relative_to(small_raw_template).as_posix(): p.read_bytes()
             for p in small_raw_template.rglob("*") if p.is_file()}
    bom = [f for f, data in files.items() if data.startswith(b"\xef\xbb\xbf")]
    xlsx = [f for f in files if f.endswith(".xlsx")]
    gb18030 = []
    for name, data in files.items():
        if name.endswith(".csv") and not data.startswith(b"\xef\xbb\xbf"):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                data.decode("gb18030")  # raises if it is neither
                gb18030.append(name)
    assert any(f.startswith("hotline/") for f in gb18030) and any(f.startswith("hotline/") for f in bom)
    assert {f.split("/")[0] for f in xlsx} == {"inspections", "development"}
    assert files["hotline/2018/12345_2018-03.csv"].decode("gb18030").startswith("工单编号,受理时间,来电号码")


def test_each_file_written_is_announced_with_the_rows_the_loader_accepts_from_it(tmp_path):
    """The deliberately broken rows are written but not counted: the loader rejects them."""
    said = []
    generate(tmp_path / "raw", hotline_scale=0.001, years=(2018,), progress=said.append)
    announced = {path: int(count) for count, path in
                 (re.fullmatch(r"\w+ 2018(?:-\d\d)?: (\d+) \w+ → (\S+)", line).groups() for line in said)}
    warehouse = tmp_path / "warehouse.duckdb"
    load_every_source(warehouse, tmp_path / "raw", [2018])
    loaded = {str(tmp_path / "raw" / path): rows
              for path, rows in query(warehouse, "select source_file, rows_loaded from raw.load_files")}
    assert announced == loaded and len(loaded) == 14  # ten months of tickets, one file of each other source


def test_hotline_exists_only_from_march_2018(small_raw_template):
    months = sorted(p.name for p in (small_raw_template / "hotline").rglob("*.csv"))
    assert months[0] == "12345_2018-03.csv" and months[-1] == "12345_2018-12.csv" and len(months) == 10


def test_more_units_are_listed_for_the_loader(tmp_path):
    generate(tmp_path, unit_count=30, hotline_scale=0.001, years=(2018,), progress=lambda _: None)
    units = (tmp_path / "units.csv").read_text(encoding="utf-8").splitlines()
    assert len(units) == 31 and units[1].startswith("511102,") and units[-1].startswith("520018,")


def test_monitoring_scenarios_fill_every_month_and_plant_their_shifts_only_when_asked(tmp_path):
    """signals "off": every unit has tickets and cases in every month, with the Spring Festival dip
    and no overdue rectification; "shifts": conduct complaints about double in a doubling's months."""
    from tests.conftest import SALT, UNITS_CSV

    def loaded(signals: str):
        raw = tmp_path / signals
        shifts = generate(raw, years=(2017, 2018), signals=signals, progress=lambda _: None)
        con = connect(tmp_path / f"{signals}.duckdb")
        for source in ("hotline", "cases", "inspections"):
            for year in (2017, 2018):
                report = ingest(con, SOURCES[source], year, raw, UNITS_CSV, SALT)
                assert report.rows_rejected == 0 or source == "inspections"  # its planted broken rows
        return con, shifts

    con, shifts = loaded("off")
    assert shifts == []
    assert con.execute("""select count(distinct (county_code, date_trunc('month', received_at))),
                                 count(distinct date_trunc('month', received_at)) from raw.hotline""").fetchone() \
        == (11 * 24, 24)
    (february, march) = con.execute("""select count(*) filter (where month(received_at) = 2),
                                              count(*) filter (where month(received_at) = 3) from raw.hotline""").fetchone()
    assert february < 0.85 * march
    assert con.execute("select count(distinct date_trunc('month', filed_on)) from raw.cases").fetchone() == (24,)
    assert con.execute("select count(*) from raw.inspections where problems_rectified < problems_found "
                       "and rectification_due_on < date '2018-12-31'").fetchone() == (0,)
    con.close()

    con, shifts = loaded("shifts")
    doublings = [s for s in shifts if s.signal == "conduct_complaint_surge" and s.size == 2.0]
    assert len(doublings) == 11 and {s.months for s in doublings} == {3}
    ratios = []
    for shift in doublings:
        during, before = con.execute("""
            select count(*) filter (where received_at >= $onset) / $months,
                   count(*) filter (where received_at < $onset) / 12
            from raw.hotline where county_code = $unit and category in ('干部作风', '腐败问题')
              and received_at >= $onset - interval 12 month and received_at < $onset + to_months($months)""",
            {"onset": shift.onset, "months": shift.months, "unit": shift.county_code}).fetchone()
        ratios.append(during / before)
    assert 1.7 < sum(ratios) / len(ratios) < 2.3
    con.close()


def test_survey_targets_follow_the_component_weights_in_the_seeds(tmp_path, monkeypatch):
    from orchestration import methodology
    from orchestration.sample.surveys import survey_target

    others = {"discipline_new_occurrence": 80.0, "inspection_rectification": 70.0}
    assert survey_target(90, "clean_governance", others) == pytest.approx(100)  # (90 − 0.2·80 − 0.2·70) / 0.6
    missing = {**others, "inspection_rectification": None}  # (90·0.8 − 0.2·80) / 0.6: renormalised
    assert survey_target(90, "clean_governance", missing) == pytest.approx(56 / 0.6)
    seeds = tmp_path / "seeds"
    shutil.copytree(methodology.SEEDS, seeds)
    path = seeds / "methodology_components.csv"
    text = path.read_text(encoding="utf-8")
    for old, new in (("2019.1,survey_clean_governance,clean_governance,0.6",
                      "2019.1,survey_clean_governance,clean_governance,0.4"),
                     ("2019.1,discipline_new_occurrence,clean_governance,0.2",
                      "2019.1,discipline_new_occurrence,clean_governance,0.4")):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(methodology, "SEEDS", seeds)
    assert survey_target(90, "clean_governance", others) == pytest.approx(110)  # (90 − 0.4·80 − 0.2·70) / 0.4
