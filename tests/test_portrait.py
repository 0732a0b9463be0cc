"""The county portraits (精准画像), opened from disk in a real headless Chromium: every unit has its
section, every chart has drawn, no JavaScript error, no network request. A screenshot is kept in
test-artifacts/. Without a browser the test fails, saying how to install one: it never skips."""

import shutil
from pathlib import Path

import pytest

from orchestration import cli, portrait
from orchestration.lib.duck import connect
from orchestration.settings import PROJECT_ROOT
from tests.browser import browser, console_errors, offline, requested_urls

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def reports(built_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    with connect(built_warehouse, read_only=True) as con:
        years = [y for (y,) in con.execute("select distinct year from marts.fct_county_evaluation").fetchall()]
        pages = [portrait.render_year(con, year, out) for year in sorted(years)]
        portrait.render_index(con, out)
        units = [c for (c,) in con.execute("select county_code from marts.fct_county_evaluation where year = 2018")
                 .fetchall()]
        funnels = [s for (s,) in con.execute("""select distinct signal from marts.fct_warning_funnels
                                                where year(month) = 2018 and is_evaluated""").fetchall()]
    return {"out": out, "pages": pages, "units": units, "funnels": funnels}


def test_the_report_renders_in_a_real_browser_offline_without_errors(reports):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = reports["out"] / portrait.page_name(2018)
    with browser() as driver:
        driver.get(page.as_uri())
        charts = driver.find_elements(By.CSS_SELECTOR, "div.chart div.plotly-graph-div")
        # a chart has drawn when Plotly has put its SVG, with marks in it, into the chart's div
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("""
            const charts = [...document.querySelectorAll('div.chart div.plotly-graph-div')];
            return charts.length > 0 && charts.every(div => div.querySelector('svg.main-svg g') !== null)"""))
        drawn = driver.execute_script("""
            return [...document.querySelectorAll('div.chart div.plotly-graph-div')].map(div => [div.id,
                div.querySelectorAll('svg.main-svg path, svg.main-svg text').length])""")
        sections = {e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, "section.unit")}
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "portrait_2018.png"))
        errors = console_errors(driver)
        urls = requested_urls(driver)
    assert sections == {f"unit-{code}" for code in reports["units"]} and len(sections) == 11
    ids = {chart_id for chart_id, _ in drawn}
    for code in reports["units"]:  # each unit's radar, trend, components and scores
        assert {f"radar-{code}", f"trend-{code}", f"components-{code}", f"scores-{code}"} <= ids
    assert reports["funnels"] and {f"funnel-{signal}" for signal in reports["funnels"]} <= ids
    assert len(charts) == len(drawn) and all(marks > 0 for _, marks in drawn), drawn
    assert errors == []
    assert offline(urls), urls
    assert (ARTIFACTS / "portrait_2018.png").stat().st_size > 10_000


def test_the_page_tells_the_grade_and_its_confidence_and_links_every_year(reports):
    html = (reports["out"] / portrait.page_name(2018)).read_text(encoding="utf-8")
    assert "综合得分" in html and "Composite" in html and "把握" in html
    index = (reports["out"] / "index.html").read_text(encoding="utf-8")
    assert all(portrait.page_name(y) in index for y in (2015, 2016, 2017, 2018))
    assert "cdn" not in html.lower() and "https://" not in html


def test_jingtu_report_writes_the_pages_and_prints_their_path(built_warehouse, tmp_path, monkeypatch, capsys):
    copy = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, copy)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(copy))
    monkeypatch.setenv("JINGTU_REPORTS", str(tmp_path / "reports"))
    assert cli.main(["report", "--year", "2018", "--year", "2019"]) == 2  # refused whole: no page of 2018 either
    assert "no evaluation for 2019" in capsys.readouterr().err and not (tmp_path / "reports").exists()
    assert cli.main(["report", "--year", "2018"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "reports" / "portrait_2018.html") in out
    assert (tmp_path / "reports" / "index.html").exists() and (tmp_path / "reports" / "plotly.min.js").exists()
    assert cli.main(["report", "--year", "2019"]) == 2
    assert "no evaluation for 2019" in capsys.readouterr().err


def test_a_run_for_one_year_rewrites_every_years_page(built_warehouse, tmp_path, monkeypatch):
    """Each page draws every year's composite and links every year, and 2018's warnings reach back into
    2017's months: the portraits of a run for 2017 are every year's, and a year no longer evaluated
    loses its page."""
    from dagster import materialize

    from orchestration.defs.reports import county_portraits
    from orchestration.resources import Warehouse

    monkeypatch.setenv("JINGTU_REPORTS", str(tmp_path / "reports"))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / portrait.page_name(2014)).write_text("a year whose files were taken away")
    result = materialize([county_portraits], partition_key="2017",
                         resources={"warehouse": Warehouse(database=str(built_warehouse))})
    assert result.success
    assert sorted(p.name for p in (tmp_path / "reports").glob("portrait_*.html")) == [
        portrait.page_name(year) for year in (2015, 2016, 2017, 2018)]


def test_an_ungraded_unit_says_why(reports, built_warehouse, tmp_path):
    copy = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, copy)
    with connect(copy) as con:
        con.execute("""update marts.fct_county_evaluation set is_graded = false, composite = null, grade = '未评定',
                       grade_en = 'not graded', rank = null, missing_indicators = 'development'
                       where year = 2018 and county_code = '511113'""")
        page = portrait.render_year(con, 2018, tmp_path / "out")
    html = page.read_text(encoding="utf-8")
    section = html[html.index('id="unit-511113"'):]
    assert "未评定：缺少指标 missing indicators: development" in section[:3000]


def test_the_reports_live_beside_the_warehouse_unless_configured(monkeypatch, tmp_path):
    from orchestration import settings

    monkeypatch.setenv("JINGTU_WAREHOUSE", str(tmp_path / "w" / "jingtu.duckdb"))
    monkeypatch.delenv("JINGTU_REPORTS", raising=False)
    assert settings.reports_dir() == tmp_path / "w" / "reports"
    monkeypatch.setenv("JINGTU_REPORTS", str(tmp_path / "elsewhere"))
    assert settings.reports_dir() == Path(tmp_path / "elsewhere")
