"""The documentation pages `make docs` (`jingtu site`) writes open from disk in headless Chromium,
offline, while a run holds the warehouse: dbt's docs with the serving file's catalog, and the data
quality report."""

import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.lib.duck import connect
from orchestration.quality.validate import validate
from orchestration.serving import publish
from tests.browser import browser, console_errors, offline, requested_urls
from tests.conftest import UNITS_CSV

JINGTU = str(Path(sys.executable).parent / "jingtu")


def test_the_doc_pages_open_offline_while_a_run_holds_the_warehouse(built_warehouse, tmp_path, monkeypatch):
    from selenium.webdriver.support.ui import WebDriverWait

    warehouse = tmp_path / "warehouse" / built_warehouse.name
    warehouse.parent.mkdir()
    shutil.copyfile(built_warehouse, warehouse)
    for name, value in (("JINGTU_WAREHOUSE", warehouse), ("JINGTU_SERVING", tmp_path / "serving.duckdb"),
                        ("JINGTU_QUALITY", tmp_path / "quality"), ("JINGTU_UNITS", UNITS_CSV)):
        monkeypatch.setenv(name, str(value))
    publish(warehouse, tmp_path / "serving.duckdb")
    with connect(warehouse) as con:
        units = [c for (c,) in con.execute("select county_code from config.units").fetchall()]
    validate(warehouse, ["raw_development", "raw_development_files"], [2018], units, "raw_development_2018")

    with connect(warehouse) as holder:  # a run's writing connection: no other process may open the file
        holder.execute("create or replace table main.run_in_progress as select 1 as x")
        result = subprocess.run([JINGTU, "site"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    dbt_docs = tmp_path / "warehouse" / "docs" / "dbt.html"
    assert result.stdout.startswith("writing the dbt docs") and f"dbt docs (models, columns, lineage): {dbt_docs}" in result.stdout

    with browser() as driver:
        driver.get(dbt_docs.as_uri() + "#!/model/model.jingtu.fct_county_evaluation")
        WebDriverWait(driver, 60).until(lambda d: "county_name" in d.find_element("tag name", "body").text)
        model_page = driver.find_element("tag name", "body").text
        dbt_errors, dbt_urls = console_errors(driver), requested_urls(driver)
        driver.get((tmp_path / "quality" / "index.html").as_uri())
        quality_rows = driver.execute_script("return document.querySelectorAll('table#results tr.passed').length")
        quality_page = driver.find_element("tag name", "body").text
        quality_errors, quality_urls = console_errors(driver), requested_urls(driver)
    assert "The unit's name (区县名称)" in model_page and "VARCHAR" in model_page  # docs, and the catalog's types
    assert dbt_errors == [] and offline(dbt_urls), (dbt_errors, dbt_urls)
    assert quality_rows == 2 and "raw_development_files" in quality_page and "全部通过" in quality_page
    assert quality_errors == [] and offline(quality_urls), (quality_errors, quality_urls)


def test_docs_that_cannot_be_written_say_why_naming_what_was_read(tmp_path, monkeypatch, capsys):
    from orchestration import cli

    warehouse, serving = tmp_path / "w" / "jingtu.duckdb", tmp_path / "w" / "serving.duckdb"
    serving.parent.mkdir()
    serving.write_text("not a database")
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("JINGTU_SERVING", str(serving))
    assert cli.main(["site"]) == 3
    err = capsys.readouterr().err
    assert f"its catalog read from a copy of {serving}" in err and "not a valid DuckDB database file" in err, err
    monkeypatch.setenv("JINGTU_DUCKDB_MEMORY_LIMIT", "lots")  # named as the setting it came from
    assert cli.main(["site"]) == 3 and "JINGTU_DUCKDB_MEMORY_LIMIT" in capsys.readouterr().err
    assert not (warehouse.parent / "docs").exists()
    monkeypatch.delenv("JINGTU_DUCKDB_MEMORY_LIMIT")
    monkeypatch.setenv("JINGTU_SERVING", str(tmp_path / "not yet published.duckdb"))  # dbt's docs would be written
    monkeypatch.setenv("JINGTU_QUALITY", str(serving / "quality"))  # under a file: it cannot be made
    assert cli.main(["site"]) == 3
    assert f"{serving / 'quality'}: " in capsys.readouterr().err
    assert not (warehouse.parent / "docs" / "dbt.html").exists()  # refused before dbt's work, not after
