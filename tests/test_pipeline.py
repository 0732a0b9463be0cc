"""Ingestion through Dagster: partitions, metadata, failures and the `jingtu` command."""

import errno
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import msgpack
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    materialize,
)

from orchestration import cli, settings
from orchestration.dbt import (
    DBT_PROJECT_DIR,
    FAILED_STEP_FOLDERS_KEPT,
    PARTIAL_PARSE,
    Dbt,
    failure_messages,
    invoke_dbt,
    step_target_folder,
)
from orchestration.definitions import defs
from orchestration.defs.dbt_models import jingtu_dbt_models
from orchestration.defs.ingestion import ingestion_assets
from orchestration.lib.duck import connect
from orchestration.resources import Warehouse
from tests.conftest import (
    SALT,
    UNITS_CSV,
    after_success,
    hold_in_another_process,
    personal_data_in,
    personal_data_written,
    query,
    raw_callers,
)
from tests.test_ingest import TICKETS, write_hotline


def materialize_year(raw, warehouse, year: int):
    resources = {"warehouse": Warehouse(database=str(warehouse), raw_root=str(raw))}
    return materialize(ingestion_assets, partition_key=str(year), resources=resources, raise_on_error=False)


def test_materialising_a_year_loads_every_source_and_reports_counts(raw, warehouse):
    result = materialize_year(raw, warehouse, 2018)
    assert result.success
    metadata = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("raw__hotline")}
    hotline = metadata["hotline"]
    loaded, rejected = hotline["rows_loaded"].value, hotline["rows_rejected"].value
    assert hotline["rows_read"].value == loaded + rejected
    assert query(warehouse, "select count(*) from raw.hotline") == [(loaded,)]
    assert query(warehouse, "select count(*) from raw.rejects where source = 'hotline'") == [(rejected,)]
    assert "12345_2018-03.csv" in hotline["files"].value
    for source in ("cases", "inspections", "surveys", "development"):
        assert query(warehouse, f"select count(distinct partition_year) from raw.{source}") == [(1,)]


def test_a_broken_file_fails_its_asset_with_the_file_named(raw, warehouse):
    (raw / "development" / "2016" / "kaoping_2016.csv").write_bytes(b"")
    result = materialize_year(raw, warehouse, 2016)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "raw__development"
    message = failure.step_failure_data.user_failure_data.description
    assert "development 2016 was not loaded" in message and "kaoping_2016.csv: the file is empty" in message


def test_what_lies_under_raw_where_no_load_looks_is_named_and_its_year_not_taken_for_data(raw, warehouse):
    """A misspelt source, a folder not named as a year, a folder inside a year's: their files were
    passed over without a word (and a misspelt source's year counted as a year with data)."""
    shutil.copy(settings.PROJECT_ROOT / "raw" / "README.md", raw)  # the landing zone's note, in the repository
    assert settings.unread_raw_paths(raw) == [] and settings.years_with_data(raw) == [2015, 2016, 2017, 2018]
    for stray in ("hotlines/2019/12345_2019-01.csv", "hotline/2018-extra/12345_2018-13.csv",
                  "hotline/2018/resent/12345_2018-03.csv", "cases/cases_2018.csv"):
        (raw / stray).parent.mkdir(parents=True, exist_ok=True)
        (raw / stray).write_text("工单编号\n")
    assert [(path.relative_to(raw).as_posix(), why.split(" (")[0]) for path, why in settings.unread_raw_paths(raw)] == [
        ("cases/cases_2018.csv", "a file outside the years' folders"),
        ("hotline/2018/resent", "a folder inside 2018's: the files of a year lie in its folder"),
        ("hotline/2018-extra", "not a year's folder"), ("hotlines", "not a source's folder")]
    assert settings.years_with_data(raw) == [2015, 2016, 2017, 2018]
    with DagsterInstance.ephemeral() as instance:  # a run from the UI: the hotline's ingestion warns of its own
        result = materialize(ingestion_assets[:1], partition_key="2018", instance=instance, raise_on_error=False,
                             resources={"warehouse": Warehouse(database=str(warehouse), raw_root=str(raw))})
        warned = [r.user_message for r in instance.all_logs(result.run_id) if r.level == logging.WARNING]
    assert result.success and warned == [
        f"{raw / 'hotline' / '2018' / 'resent'} is not read: a folder inside 2018's: the files of a year lie in its folder",
        f"{raw / 'hotline' / '2018-extra'} is not read: not a year's folder (raw/hotline/<YYYY>/)"]


def test_the_cli_materialises_years_and_prints_counts_and_grades(raw, warehouse, monkeypatch, tmp_path, capsys,
                                                                  caplog):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.chdir(tmp_path)  # a relative DAGSTER_HOME, which Dagster refused with a traceback
    monkeypatch.setenv("DAGSTER_HOME", "dagster_home")
    monkeypatch.setattr(cli, "HEARTBEAT", 0)  # a line every second while a step runs
    # beside the sample's callers, one whose tickets are loaded and one whose ticket is rejected (one in
    # a hundred: a file with more rejects fails its check), with an ID number in the text: looked for in
    # everything the runs write, at the end
    planted = [{**TICKETS[0], "ticket_id": f"P{i}", "caller_name": "欧阳明远"} for i in range(100)] + [
        {**TICKETS[0], "ticket_id": "P100", "caller_phone": "13698765432", "caller_name": "司马青衫",
         "county_code": "999999"}]
    write_hotline(raw / "hotline" / "2018" / "12345_2018-05-callers.csv", planted)
    printed = []

    def output() -> str:
        printed.append(capsys.readouterr().out)
        return printed[-1]

    stray = raw / "hotlines" / "2018" / "12345_2018-05.csv"  # a source misspelt: said, not passed over
    stray.parent.mkdir(parents=True)
    stray.write_text("工单编号\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["materialize", "2017", "2018"]) == 0
    assert [str(w.message) for w in caught if "dagster" in w.filename] == []  # the output stays readable
    out = output()
    assert f"note: {raw / 'hotlines'} is not read: not a source's folder (hotline, cases," in out
    assert "materialising 2017–2018 …" in out  # one run for the range of years
    # a line per step as it ends, in the order they ran, before the run's own
    steps = re.findall(r"^  (\w+ ingested|quality checks done|dbt build done|portraits written"
                       r"|serving file published) \(\d+\.\d s\)$", out, re.MULTILINE)
    assert steps == [f"{s} ingested" for s in ("cases", "development", "hotline", "inspections", "surveys")] + [
        "quality checks done", "dbt build done", "portraits written", "serving file published"], out
    assert out.index("serving file published") < out.index("2017–2018 done in")
    assert re.search(r"^  … building the marts \(dbt\), \d+ s so far$", out, re.MULTILINE), out
    grade_lines = [line for line in out.splitlines() if line.startswith("      5111")]
    assert len(grade_lines) == 22 and "一票否决" in out
    graded = [line for line in grade_lines if "未评定" not in line]
    assert "P(grade)" in out and graded and all(re.search(r" [01]\.\d\d[ ?] ", line) for line in graded)
    # each year's table headed by the methodology version that graded it
    headed = {int(year): version for year, version in re.findall(r"^(\d{4})  unit .* rank  methodology (.+)$", out,
                                                                  re.MULTILINE)}
    assert headed == dict(query(warehouse, "select year, string_agg(distinct methodology_version, ', ')"
                                           " from marts.fct_county_evaluation group by year"))
    lines = {tuple(line.split()[:2]): line.split()[3:] for line in out.splitlines() if line.startswith(("cases", "hotline"))}
    loaded_2018, rejected_2018 = query(warehouse, "select count(*), (select count(*) from raw.rejects where "
                                                  "source = 'cases' and partition_year = 2018) from raw.cases "
                                                  "where partition_year = 2018")[0]
    assert lines[("cases", "2018")] == [f"{loaded_2018:,}", f"{rejected_2018:,}"]
    assert ("hotline", "2018") in lines
    # the county portraits of both years, with the warnings built after the years, and where they are
    reports = warehouse.parent / "reports"
    assert f"county portraits: {reports / 'index.html'}" in out
    page = (reports / "portrait_2018.html").read_text(encoding="utf-8")
    (alerts,) = query(warehouse, "select count(*) from marts.fct_early_warnings where year(month) = 2018")[0]
    assert alerts > 0 and page.count('<td class="severity-') == alerts
    assert (reports / "portrait_2017.html").exists() and "portrait_2018.html" in (reports / "index.html").read_text()

    # Each dbt step, once done, leaves its parse for the next (as steps run dbt: from the warehouse's
    # folder, the file given by name; here a parse from scratch) and no target folder of its own.
    parsed = invoke_dbt(["parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                         str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "parse")])
    assert parsed.success, failure_messages(parsed)
    assert state_check(PARTIAL_PARSE) == state_check(tmp_path / "parse" / PARTIAL_PARSE.name)
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        event = instance.get_latest_materialization_event(AssetKey(["marts", "fct_county_evaluation"]))
        records = [r.event_log_entry for r in instance.get_records_for_run(runs[0].run_id).records]
    logged = [r.user_message for r in records if r.step_key == "raw__hotline" and r.dagster_event is None]
    # the misspelt source, in the run's log too (a run from the UI or a schedule prints no note), once
    assert [(r.step_key, r.user_message.split(" (")[0]) for r in records if "is not read" in r.user_message] == [
        ("raw_expectations", f"{raw / 'hotlines'} is not read: not a source's folder")]
    # the loader tells of each file it has read, which the progress lines repeat while a step runs
    files = sorted(p.name for p in (raw / "hotline" / "2018").iterdir())
    read = [m for m in logged if re.fullmatch(r"hotline 2018: hotline/2018/\S+: [\d,]+ rows read \(file \d+ of \d+\)", m)]
    assert [m.split("/")[2].split(":")[0] for m in read] == files and read[-1].endswith(f"(file {len(files)} of {len(files)})")
    assert [run.job_name for run in runs] == ["yearly_evaluation"]  # one run: the years, warnings, portraits, serving
    # the asset page's row count and columns, types and descriptions included
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == query(warehouse, "select count(*) from marts.fct_county_evaluation"
                                                        )[0][0] == 22
    columns = {c.name: c for c in metadata["dagster/column_schema"].schema.columns}
    assert columns["county_name"].type == "VARCHAR" and "区县名称" in columns["county_name"].description

    # Again with nothing new: no run, no write, the same grades printed.
    warehouse_written = warehouse.stat().st_mtime_ns
    assert cli.main(["materialize", "2017", "2018"]) == 0
    again = output()
    assert "nothing new since the run that finished at" in again
    assert [line for line in again.splitlines() if line.startswith("      5111")] == grade_lines
    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == len(runs)
    assert warehouse.stat().st_mtime_ns == warehouse_written
    assert not [path for run in runs for path in PARTIAL_PARSE.parent.glob(step_target_folder(run.run_id, "*").name)]
    # Only the 2017 hotline file is asked for … (nothing new for 2017 alone either)
    assert cli.main(["materialize", "2017"]) == 0 and "nothing new since" in output()

    # Re-delivered surveys files of 2017 and 2018, then 2017 asked for: one run, of 2017, reloading the
    # surveys and rebuilding only what reads them; the hotline and the cases are left alone.
    sense_of_gain = ("select county_code, component, denominator from marts.fct_components"
                     " where year = 2017 and component_kind = 'sense_of_gain' order by all")
    before = query(warehouse, sense_of_gain)
    surveys = raw / "surveys" / "2017" / "cepings_2017.csv"
    lines = surveys.read_bytes().splitlines(keepends=True)
    surveys.write_bytes(b"".join(lines[:-100]))
    surveys_2018 = raw / "surveys" / "2018" / "cepings_2018.csv"
    surveys_2018.write_bytes(b"".join(surveys_2018.read_bytes().splitlines(keepends=True)[:-100]))
    caplog.clear()
    assert cli.main(["materialize", "2017"]) == 0
    assert "materialising 2017 (files changed: surveys) …" in output()
    # what a library would print past the CLI's quiet run config (a person sees it on stderr)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    with DagsterInstance.get() as instance:
        (third,) = [run for run in instance.get_runs() if run.run_id not in {r.run_id for r in runs}]
        rebuilt = {r.asset_key.to_user_string() for r in instance.get_records_for_run(
            third.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records}
        evaluated = {r.event_log_entry.dagster_event.event_specific_data.asset_check_key for r in
                     instance.get_records_for_run(third.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION,
                                                  limit=1000).records}
    # every test of what was rebuilt ran and gated what follows, those that read another model too
    # (a mart's county codes checked against dim_county, its grades against the methodology's)
    assert {spec.key for spec in jingtu_dbt_models.check_specs if spec.asset_key.to_user_string() in rebuilt} <= evaluated
    assert {"raw/surveys", "marts/fct_components", "marts/fct_county_evaluation", "serving/bi_database"} <= rebuilt
    assert not {"raw/hotline", "raw/cases", "marts/fct_hotline_daily", "marts/fct_case_events_monthly"} & rebuilt
    (loaded, rejected) = query(warehouse, "select (select count(*) from raw.surveys where partition_year = 2017),"
                                          " (select count(*) from raw.rejects where source = 'surveys'"
                                          " and partition_year = 2017)")[0]
    assert loaded + rejected == len(lines) - 101  # the header and the 100 lines removed
    assert before and query(warehouse, sense_of_gain) != before  # built from the surveys that remain

    # Both years again: 2017 is up to date, 2018's surveys file is still new and its development file
    # gone, which is said before the run removes its rows; then nothing is new.
    development = next((raw / "development" / "2018").iterdir())
    (developed,) = query(warehouse, "select count(*) from raw.development where partition_year = 2018")[0]
    development.unlink()
    assert cli.main(["materialize", "2017", "2018"]) == 0
    again = output()
    note = (f"note: development/2018/{development.name} was loaded ({developed:,} rows) and is no longer under"
            " raw/: this run removes its rows from the warehouse\n")
    assert note in again and again.index(note) < again.index("materialising 2018 (files changed: development, surveys)")
    assert query(warehouse, "select count(*) from raw.development where partition_year = 2018") == [(0,)]
    assert cli.main(["materialize", "2017", "2018"]) == 0 and "nothing new since" in output()
    # A forced run of 2018 leaves 2017 as it was: the next run of both finds nothing new either.
    assert cli.main(["materialize", "--force", "2018"]) == 0 and "materialising 2018 …" in output()
    assert cli.main(["materialize", "2017", "2018"]) == 0 and "nothing new since" in output()

    # Nothing the runs wrote holds a caller's phone or name, or an ID number, in clear: the warehouse's
    # folder (databases, quality results, portraits), the Dagster instance (event logs, captured output),
    # dbt's parse, what was printed and logged.
    phones, _ = raw_callers(raw)
    assert {"13912345678", "13698765432"} < phones and len(phones) > 1000
    texts = ("欧阳明远", "司马青衫", "51112419800101123X")
    written = personal_data_written(tmp_path, phones, texts, besides=raw)
    assert {"dagster_home", warehouse.parent.name, "parse"} <= {path.parts[0] for path in written}
    assert {str(path): held for path, held in written.items() if held} == {}
    output()
    assert personal_data_in("".join([*printed, caplog.text]).encode(), phones, texts) == set()


def state_check(partial_parse) -> dict:
    """What dbt compares before it reuses a saved parse: project, profile, vars, dbt version."""
    return msgpack.unpackb(partial_parse.read_bytes(), strict_map_key=False)["state_check"]


def test_the_cli_refuses_to_overwrite_data_without_force(raw, capsys):
    assert cli.main(["generate", "--out", str(raw)]) == 2  # refused, as other refusals (1 is a failed run)
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["materialize", "--help"]])
def test_the_cli_explains_itself(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0 and "usage: jingtu" in capsys.readouterr().out


def test_the_cli_answers_without_the_generator_numpy_or_pandas(built_warehouse, tmp_path):
    """`jingtu --help`, and what a run with nothing new does (the files gone from raw/, the counts and
    grades), import neither the sample generator nor numpy or pandas, which a DuckDB query with
    parameters imports: they would make the answer wait on seconds of imports."""
    warehouse = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, warehouse)
    script = ("import contextlib, io, sys\nfrom orchestration import cli\n"
              "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
              "    with contextlib.suppress(SystemExit):\n        cli.main(['--help'])\n"
              "    cli.print_counts(); cli.print_grades([2017, 2018])\n"
              "from orchestration import ingest, settings\nfrom orchestration.lib.duck import open_checked\n"
              "with open_checked(settings.warehouse_path(), read_only=False) as con:\n"
              "    ingest.files_gone(con, settings.raw_root(), [2017, 2018])\n"
              "assert '511111' in out.getvalue(), out.getvalue()\n"
              "print(sorted(m for m in ('orchestration.sample', 'numpy', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "JINGTU_WAREHOUSE": str(warehouse)},
                          check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_second_materialize_waits_for_the_one_in_progress(raw, warehouse, tmp_path):
    """Two `jingtu materialize` on one warehouse would take turns step by step, doing the work twice
    (and the first could not read its grades while the second wrote): the second waits for the first."""
    env = {**os.environ, "JINGTU_RAW": str(raw), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    second = None
    try:
        with cli.one_materialize_at_a_time():  # as a run in progress holds it
            second = subprocess.Popen([Path(sys.executable).parent / "jingtu", "materialize", "2017"], env=env,
                                      text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert second.stdout.readline() == f"waiting for the `jingtu materialize` in progress on {warehouse} to end …\n"
            time.sleep(1)
            assert second.poll() is None and not warehouse.exists()  # still waiting: nothing written
        # the first run has ended
        assert second.stdout.readline().startswith("materialising 2017")
    finally:
        if second:
            second.kill()
            second.wait()


def test_the_grades_of_a_warehouse_another_process_writes_are_not_shown_saying_why(built_warehouse, tmp_path,
                                                                                  monkeypatch, capsys):
    warehouse = tmp_path / built_warehouse.name
    shutil.copyfile(built_warehouse, warehouse)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(warehouse))
    cli.print_grades([2018])
    assert "511111" in capsys.readouterr().out
    holder = hold_in_another_process(warehouse, 60)  # a Dagster run launched from the UI, say
    try:
        cli.print_grades([2018])
        cli.print_counts()
    finally:
        holder.kill()
        holder.wait()
    out = capsys.readouterr().out
    assert f"(no grades shown: {warehouse} is in use by another process" in out
    assert f"(no counts shown: {warehouse} is in use by another process" in out and "511111" not in out


@pytest.mark.parametrize("option", ["--scale", "--hotline-scale", "--units"])
def test_the_sample_is_not_generated_at_a_size_of_zero(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["generate", "--out", str(tmp_path / "raw"), option, "0"])
    assert exit_.value.code == 2 and f"argument {option}: 0 is not above 0" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_a_sample_that_cannot_be_written_leaves_no_part_of_it(tmp_path, capsys):
    """The hotline is written first, then the cases, into a folder that is a file: an error naming it,
    and no hotline file left (a half sample would pass for real data)."""
    out = tmp_path / "raw"
    out.mkdir()
    (out / "cases").write_text("not a folder")
    assert cli.main(["generate", "--out", str(out), "--hotline-scale", "0.01"]) == cli.ERROR
    assert f"jingtu generate: cannot write {out / 'cases'}" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == ["cases"]
    assert cli.main(["generate", "--out", str(out / "cases")]) == cli.ERROR
    assert "nothing was kept" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "variable"), [("materialize", "JINGTU_WAREHOUSE"), ("publish", "JINGTU_SERVING"),
                                                 ("report", "JINGTU_REPORTS")])
def test_an_output_path_that_cannot_be_made_is_named_without_a_traceback(command, variable, raw, built_warehouse,
                                                                         tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(shutil.copy(built_warehouse, tmp_path)))
    blocking = tmp_path / "a_file"
    blocking.write_text("")
    monkeypatch.setenv(variable, str(blocking / "out" / "jingtu.duckdb"))
    assert cli.main([command]) == cli.ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"jingtu {command}: {blocking}") and "Traceback" not in err, err


@pytest.mark.parametrize("option", ["--scale", "--hotline-scale"])
def test_a_monitoring_scenario_refuses_a_hotline_scale_it_would_ignore_and_leaves_the_data(option, tmp_path, capsys):
    kept = tmp_path / "raw" / "hotline" / "2018" / "12345_2018-03.csv"
    kept.parent.mkdir(parents=True)
    kept.write_text("what was there")
    assert cli.main(["generate", "--out", str(tmp_path / "raw"), "--force", "--signals", "off", option, "2"]) == 2
    err = capsys.readouterr().err
    assert "a hotline scale (2) applies to the report's sample only" in err and "nothing was written" in err
    assert [p for p in (tmp_path / "raw").rglob("*") if p.is_file()] == [kept] and kept.read_text() == "what was there"


def test_the_code_location_uses_the_warehouse_resource():
    assert isinstance(defs.resources["warehouse"], Warehouse)


def test_materialising_a_year_without_raw_data_says_so_plainly(raw, monkeypatch, capsys):
    """Regression: `jingtu materialize 2019` failed with a quality-check message instead."""
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    assert cli.main(["materialize", "2018", "2019"]) == 2
    assert "no raw data for 2019" in capsys.readouterr().err


def test_materialising_with_nothing_under_raw_is_refused_as_a_year_without_data_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JINGTU_RAW", str(tmp_path / "raw"))
    assert cli.main(["materialize"]) == 2  # refused, as a year without data is (1 is a run that failed)
    assert f"no data under {tmp_path / 'raw'}: run `jingtu generate` first" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "problem"), [
    (None, "does not exist"),  # it had ended in a FileNotFoundError's traceback
    ("code,name\n511102,市中区\n", "lacks county_code, county_name, unit_type (its header: code, name;"),
    ("county_code,county_name,unit_type\n", "lists no unit"),  # every row would have been rejected
    ("county_code,county_name,unit_type\n511102,市中区,district\n".encode("gb18030"), "is not UTF-8 text"),
])
def test_materialising_with_a_units_list_that_cannot_serve_says_why_plainly(content, problem, raw, warehouse,
                                                                            monkeypatch, capsys):
    """A list of units with other columns failed every step on DuckDB's binder error."""
    units = raw / "units.csv"  # the small sample has Leshan's: no such list
    if content is not None:
        units.write_bytes(content if isinstance(content, bytes) else content.encode())
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_UNITS", str(units))
    assert cli.main(["materialize", "2018"]) == cli.ERROR
    assert f"cannot materialise: the list of units {units} {problem}" in capsys.readouterr().err
    assert not warehouse.parent.exists()
    # a run from the UI or a schedule: the ingestion fails saying the same, and loads nothing
    resources = {"warehouse": Warehouse(database=str(warehouse), raw_root=str(raw), units_file=str(units))}
    result = materialize(ingestion_assets[:1], partition_key="2018", resources=resources, raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert f"the list of units {units} {problem}" in failure.step_failure_data.user_failure_data.description
    assert not warehouse.exists()


@pytest.mark.parametrize(("name", "problem"), [
    ("o'clock.duckdb", "file name o'clock.duckdb holds a quote ('), which dbt-duckdb cannot build in"),
    ('the "final" one.duckdb', """file name the "final" one.duckdb holds a quote ("), which dbt-duckdb cannot"""),
    ("why?/jingtu.duckdb", "why?/jingtu.duckdb holds a '?', which DuckDB cannot keep a database under"),
])
def test_a_warehouse_path_duckdb_or_dbt_cannot_use_is_refused_before_anything_is_loaded(name, problem, raw, tmp_path,
                                                                                        monkeypatch, capsys):
    """dbt-duckdb names the database after the file and leaves a quote in that name unescaped in its SQL:
    the build failed on a parser error, every source loaded before it. DuckDB cuts a path at a '?' when
    it names the WAL file: every load failed to commit."""
    warehouse = tmp_path / name
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(warehouse))
    assert cli.main(["materialize", "2018"]) == cli.ERROR
    err = capsys.readouterr().err
    assert err.startswith("cannot materialise: the warehouse's ") and problem in err, err
    resources = {"warehouse": Warehouse(database=str(warehouse), raw_root=str(raw))}  # a run from the UI
    result = materialize(ingestion_assets[:1], partition_key="2018", resources=resources, raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert problem in failure.step_failure_data.user_failure_data.description
    assert not warehouse.exists()


def test_a_run_whose_reader_went_away_is_still_recorded(raw, warehouse, tmp_path, monkeypatch, capsys):
    """`jingtu materialize | head`: the run went on once head had its lines, but the last progress line
    met the closed pipe in the main thread, before the run's record was kept, so the next run started
    again whole."""
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setattr(cli.StepProgress, "run", lambda self: None)  # every progress line printed at the end

    class ReaderGoneAfterTheFirstLine(io.StringIO):
        def write(self, text: str) -> int:
            if "\n" in self.getvalue():
                raise BrokenPipeError(errno.EPIPE, "Broken pipe")
            return super().write(text)

    shown = sys.stdout  # capsys's
    monkeypatch.setattr(sys, "stdout", ReaderGoneAfterTheFirstLine())
    with pytest.raises(BrokenPipeError):  # `run` turns it into the status 141
        cli.main(["materialize", "2018"])
    monkeypatch.setattr(sys, "stdout", shown)
    assert cli.main(["materialize", "2018"]) == 0
    assert "nothing new since the run that finished at" in capsys.readouterr().out


def test_a_dagster_home_dagster_cannot_open_is_refused_before_any_run(raw, warehouse, tmp_path, monkeypatch, capsys):
    """Dagster's SQLite storage puts DAGSTER_HOME into a URL unescaped: a run began with a traceback."""
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    home = tmp_path / "runs 100%"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert cli.main(["materialize", "2018"]) == cli.ERROR
    assert (f"cannot materialise: DAGSTER_HOME {home} holds %, which Dagster's SQLite storage cannot open;"
            " nothing was materialised") in capsys.readouterr().err
    assert not home.exists() and not warehouse.exists()


def test_a_methodology_version_that_does_not_exist_is_refused_before_any_run(raw, warehouse, monkeypatch, tmp_path,
                                                                            capsys):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert cli.main(["materialize", "--methodology", "2030.9", "2018"]) == 2
    assert ("--methodology 2030.9 is not a methodology version of dbt_project/seeds/methodology_versions.csv"
            " (2018.1, 2019.1); nothing was materialised") in capsys.readouterr().err
    monkeypatch.setenv("JINGTU_METHODOLOGY_VERSION", "2030.9")
    assert cli.main(["materialize", "2018"]) == 2 and "JINGTU_METHODOLOGY_VERSION 2030.9" in capsys.readouterr().err
    assert not warehouse.exists() and not (tmp_path / "dagster_home").exists()  # nothing ran


@pytest.mark.parametrize("limit", ["lots", "1GB'; drop table raw.cases; --"])
def test_a_memory_limit_duckdb_cannot_read_is_named_as_the_setting_it_came_from(raw, warehouse, monkeypatch, capsys,
                                                                                limit):
    """It was told as the warehouse that 'cannot be opened', with DuckDB's parser message; and the value
    went into the SQL text unquoted."""
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_DUCKDB_MEMORY_LIMIT", limit)
    assert cli.main(["materialize", "2018"]) == cli.ERROR
    assert f"jingtu materialize: JINGTU_DUCKDB_MEMORY_LIMIT={limit!r} is not a size DuckDB understands" \
        in capsys.readouterr().err


def test_years_that_do_not_follow_one_another_are_one_run_that_leaves_the_years_between_alone(
        raw, warehouse, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert cli.main(["materialize", "2018", "2016"]) == 0
    out = capsys.readouterr().out
    assert "materialising 2016, 2018 …" in out and "  2016, 2018 done in" in out
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"],
            run.tags["jingtu/years"]) == ("2016", "2018", "2016,2018")
    for source in ("hotline", "cases", "inspections", "surveys", "development"):  # the hotline has 2018 alone
        loaded = {year for (year,) in query(warehouse, f"select distinct partition_year from raw.{source}")}
        assert loaded == {year for year in (2016, 2018) if (raw / source / str(year)).is_dir()}
    assert query(warehouse, "select distinct year from marts.fct_county_evaluation order by 1") == [(2016,), (2018,)]
    assert query(warehouse, "select distinct year from marts.fct_grade_confidence order by 1") == [(2016,), (2018,)]
    pages = {p.name for p in (warehouse.parent / "reports").iterdir()}
    assert {"portrait_2016.html", "portrait_2018.html"} <= pages and "portrait_2017.html" not in pages


def test_the_inputs_of_a_run_change_with_a_raw_file_the_code_or_the_methodology(raw, warehouse, monkeypatch):
    from orchestration import inputs

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    before = inputs.fingerprint([2018], None, "key")
    assert inputs.fingerprint([2018], None, "key") == before
    assert inputs.fingerprint([2018], "2018.1", "key") != before
    assert inputs.fingerprint([2018], None, "another key") != before
    assert inputs.fingerprint([2017, 2018], None, "key") != before
    path = next((raw / "cases" / "2018").iterdir())
    path.write_bytes(path.read_bytes() + b"\n")
    assert inputs.fingerprint([2018], None, "key")["raw"] != before["raw"]


def recorded_run(run_id: str, years: list[int], reloaded: set[str]) -> bool:
    """A successful run of `years` recorded as its resource, its steps and the CLI or the sensor record it."""
    from orchestration import inputs

    start = inputs.run_start(years)
    if record := inputs.run_record(start, reloaded):
        inputs.note_step(run_id, record)
    return inputs.promote(run_id)


def test_after_a_run_of_some_years_the_others_run_whole_and_its_years_only_for_what_changed(raw, warehouse,
                                                                                            monkeypatch):
    """What `jingtu materialize` runs after a run of 2018 alone: 2017, never run, with every source;
    2018 for its changed file alone, or not at all. After a change of key or of the warehouse,
    everything, saying why; not after `jingtu publish` from the warehouse the run left."""
    from orchestration import inputs
    from orchestration.contracts import SOURCES

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"")
    assert recorded_run("first", [2018], set(SOURCES))
    since = inputs.since_last_run(inputs.fingerprint([2017, 2018], None, SALT))
    assert (since.changes, since.not_run) == ({2017: set(SOURCES)}, [2017])
    path = next((raw / "surveys" / "2018").iterdir())
    path.write_bytes(path.read_bytes() + b"\n")
    since = inputs.since_last_run(inputs.fingerprint([2017, 2018], None, SALT))
    assert since.changes == {2017: set(SOURCES), 2018: {"surveys"}}
    assert inputs.why_whole(inputs.fingerprint([2018], None, SALT)) is None
    assert inputs.since_last_run(inputs.fingerprint([2018], None, "another key")) is None
    assert inputs.why_whole(inputs.fingerprint([2018], None, "another key")) == inputs.WHY_WHOLE["key"]
    monkeypatch.setenv("JINGTU_SERVING", str(warehouse.with_name("serving.duckdb")))
    warehouse.with_name("serving.duckdb").write_bytes(b"republished by `jingtu publish`")
    inputs.note_publication()  # from the warehouse as the run left it: the run is still followed on from
    assert inputs.why_whole(inputs.fingerprint([2018], None, SALT)) is None
    warehouse.write_bytes(b"written by another run")
    inputs.note_publication()
    assert inputs.why_whole(inputs.fingerprint([2018], None, SALT)) == inputs.WHY_WHOLE["warehouse"]


def test_a_run_records_the_sources_it_reloaded_with_all_that_reads_them_and_only_once_it_has_succeeded(
        raw, warehouse, monkeypatch):
    """A run from the UI or the sensor that reloaded a source brings that source up to date and leaves
    the rest as the last run recorded it; one that does not follow on from the last run is recorded only
    when it ran its years whole; a record is dropped when its run failed or when another run wrote the
    warehouse before it was promoted."""
    from orchestration import inputs
    from orchestration.contracts import SOURCES

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("JINGTU_SERVING", str(warehouse.with_name("serving.duckdb")))
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"")
    assert recorded_run("whole", [2017, 2018], set(SOURCES))
    for source in ("surveys", "cases"):
        path = next((raw / source / "2018").iterdir())
        path.write_bytes(path.read_bytes() + b"\n")
    warehouse.write_bytes(b"surveys of 2018 reloaded")
    assert not recorded_run("lost", [2018], {"surveys"})  # it started after the warehouse changed
    assert inputs.why_whole(inputs.fingerprint([2017, 2018], None, SALT)) == inputs.WHY_WHOLE["warehouse"]
    assert recorded_run("whole again", [2017, 2018], set(SOURCES))
    for source in ("surveys", "cases"):
        path = next((raw / source / "2018").iterdir())
        path.write_bytes(path.read_bytes() + b"\n")
    start = inputs.run_start([2018])
    warehouse.write_bytes(b"surveys of 2018 reloaded")
    inputs.note_step("surveys", inputs.run_record(start, {"surveys"}))
    assert inputs.since_last_run(inputs.fingerprint([2017, 2018], None, SALT)) is None  # not promoted yet
    assert inputs.promote("surveys") and not inputs.promote("surveys")
    since = inputs.since_last_run(inputs.fingerprint([2017, 2018], None, SALT))
    assert since.changes == {2018: {"cases"}}  # the cases' change is still new
    start = inputs.run_start([2018])
    assert inputs.run_record(start, set())["raw"] == since.recorded["raw"]  # the warnings alone
    warehouse.write_bytes(b"cases of 2018 reloaded")
    inputs.note_step("failed later", inputs.run_record(start, {"cases"}))  # never promoted
    assert recorded_run("next", [2017, 2018], set(SOURCES))
    assert not inputs.promote("failed later")  # its record was dropped
    inputs.note_step("overtaken", inputs.run_record(inputs.run_start([2018]), set()))
    warehouse.write_bytes(b"written by another run before the sensor promoted it")
    assert not inputs.promote("overtaken")
    assert inputs.why_whole(inputs.fingerprint([2018], None, SALT)) == inputs.WHY_WHOLE["warehouse"]


def test_a_run_that_left_the_serving_file_out_is_recorded_before_its_publication_is_requested(raw, warehouse,
                                                                                               monkeypatch):
    """The publication requested after a run from the UI that left the serving file out starts from that
    run's record, whichever of the two sensors acts first: otherwise it would not follow on from the last
    recorded run, nor be recorded, and the next `jingtu materialize` would run every year whole."""
    from orchestration import inputs
    from orchestration.contracts import SOURCES
    from orchestration.defs.serving import publish_after_success

    monkeypatch.setenv("JINGTU_RAW", str(raw))
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"")
    assert recorded_run("first", [2018], set(SOURCES))
    start = inputs.run_start([2018])
    warehouse.write_bytes(b"the evaluation rebuilt from the UI")
    inputs.note_step("from the UI", inputs.run_record(start, set()))
    request = after_success(publish_after_success, frozenset({AssetKey(["marts", "fct_county_evaluation"])}),
                            run_id="from the UI")
    assert request.run_key == "publish-after-from the UI"
    assert inputs.run_start([]).since is not None  # the publication's run follows on from it


def test_a_failing_dbt_build_fails_its_step_with_the_failures_and_keeps_its_log(warehouse):
    """dbt runs in the step's process: its failures become the step's, named, and its folder stays."""
    with connect(warehouse):  # a warehouse with no raw layer: the staging models cannot read it
        pass
    result = materialize([jingtu_dbt_models], partition_key="2018", resources={"warehouse": Warehouse(), "dbt": Dbt()},
                         raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("dbt build failed (its log: ") and "stg_hotline__tickets" in message, message
    assert "raw.hotline" in message.replace('"', "")
    log = Path(message.split("(its log: ", 1)[1].split(")", 1)[0])
    assert log.is_file() and "stg_hotline__tickets" in log.read_text()
    shutil.rmtree(log.parent)
    assert not result.asset_materializations_for_node("jingtu_dbt_models")


def test_a_dbt_project_that_does_not_parse_stops_materialize_saying_why(raw, warehouse, monkeypatch, tmp_path,
                                                                       capsys):
    import orchestration.dbt

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "marts" / "zz_broken.sql").write_text("select {{ broken\n", encoding="utf-8")
    monkeypatch.setattr(orchestration.dbt, "DBT_PROJECT_DIR", project)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))  # the worker's saved parse left alone
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert cli.main(["materialize", "2018"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("cannot materialise: dbt parse failed") and "model zz_broken" in err, err
    assert err.count("unexpected end of template") == 1  # dbt's error line, not again as its exception
    assert not warehouse.exists() and not (tmp_path / "dagster_home").exists()  # nothing ran


def test_the_cli_shows_a_failing_dbt_build_with_dbts_own_lines(raw, warehouse, monkeypatch, tmp_path, capsys):
    """dbt's log lines are kept by `jingtu` and shown when the build fails, as plain text."""
    units = tmp_path / "units.csv"  # the loader reads the codes alone; dbt tests the names too
    lines = UNITS_CSV.read_text(encoding="utf-8").splitlines()
    code, _, unit_type = lines[1].split(",")
    units.write_text("\n".join([lines[0], f"{code},,{unit_type}", *lines[2:]]) + "\n", encoding="utf-8")
    monkeypatch.setenv("JINGTU_UNITS", str(units))
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    earlier = []  # failed steps' folders left by earlier runs: all but the newest are removed
    for day in range(1, FAILED_STEP_FOLDERS_KEPT + 2):
        folder = step_target_folder(f"{day:08d}", "earlier")
        folder.mkdir(parents=True)
        os.utime(folder, (946_684_800 + day * 86_400,) * 2)  # January 2000
        earlier.append(folder)
    assert cli.main(["materialize", "2018"]) == 1
    err = capsys.readouterr().err
    assert "Failure in test not_null_units_county_name" in err and "Done. PASS=" in err  # dbt's own lines
    assert "\x1b[" not in err
    failed = re.search(r"FAILED jingtu_dbt_models: dbt build failed \(its log: (.+)\)", err)
    assert failed, err
    assert Path(failed.group(1)).exists()
    kept = list(PARTIAL_PARSE.parent.glob(step_target_folder("*", "*").name))
    assert len(kept) == FAILED_STEP_FOLDERS_KEPT and not earlier[0].exists() and not earlier[1].exists()
    for folder in kept:
        shutil.rmtree(folder)
