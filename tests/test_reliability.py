"""Nothing lost, nothing leaked: the loader's guarantees, each found broken by trying (issue 13).

Every test here failed before its fix."""

import hashlib
import hmac
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import openpyxl
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from orchestration import cli, settings
from orchestration.contracts import HOTLINE
from orchestration.ingest import PartitionLoader, SourceFileError, WarehouseWriteError, configured_units
from orchestration.lib import pii
from orchestration.lib.duck import connect
from orchestration.quality.suites import read_suite
from orchestration.resources import WAREHOUSE_POOL, Warehouse
from orchestration.sample import generate
from tests.conftest import (
    SALT,
    UNITS_CSV,
    hold_in_another_process,
    personal_data_in,
    personal_data_written,
    project_dagster_home,
    query,
    write_source,
)
from tests.test_ingest import TICKETS, in_2014, write_hotline

PHONE, NAME, ID = "13912345678", "欧阳明远", "51112419800101123X"
# Ways people write numbers in a ticket's text, and what each must become.
MASKING_CORPUS = {
    "请回电13912345678": "请回电[手机号]",
    "电话139-1234-5678谢谢": "电话[手机号]谢谢",
    "139 1234 5678": "[手机号]",
    "139　1234　5678": "[手机号]",  # ideographic spaces
    "１３９１２３４５６７８": "[手机号]",  # full-width digits
    "+86 139 1234 5678": "[手机号]",
    "86-13912345678": "[手机号]",
    "身份证51112419800101123X": "身份证[身份证号]",
    "身份证51112419800101123x。": "身份证[身份证号]。",
    "511124 19800101 123X": "[身份证号]",
    "5111 2419 8001 0112 3X": "[身份证号]",
    "５１１１２４１９８００１０１１２３Ｘ": "[身份证号]",
    "老身份证511124800101123": "老身份证[身份证号]",  # the 15-digit format
    "座机0833-2123456": "座机[号码]",
    "银行卡6222 0212 3456 7890": "银行卡[号码]",
    "2018年3月12日反映3次，金额1234.56元": "2018年3月12日反映3次，金额1234.56元",  # no personal number
}


@pytest.fixture
def loader(warehouse):
    def _loader(contract=HOTLINE, con=None):
        con = con or connect(warehouse)
        return PartitionLoader(con, contract, configured_units(con, UNITS_CSV), SALT)
    return _loader


# -- 1. rows never silently lost -------------------------------------------------------------------


def test_a_blank_row_in_a_workbook_does_not_end_the_read(raw, load, warehouse):
    path = raw / "inspections" / "2016" / "xuncha_2016.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book.active
    data_rows = sheet.max_row - 1
    sheet.insert_rows(22)  # a blank row after 20 data rows
    book.save(path)
    report = load("inspections", 2016)
    assert report.rows_read == data_rows
    lines = query(warehouse, "select line_number from raw.inspections union all "
                             "select line_number from raw.rejects where source = 'inspections'")
    assert sorted(line for (line,) in lines) == [*range(2, 22), *range(23, data_rows + 3)]


def test_a_workbook_with_data_on_a_second_sheet_is_refused_naming_the_sheet(raw, load):
    path = raw / "inspections" / "2016" / "xuncha_2016.xlsx"
    book = openpyxl.load_workbook(path)
    book.create_sheet("空白")  # an empty sheet is fine
    extra = book.create_sheet("第二批")
    for row in list(book.active.iter_rows(values_only=True))[:4]:
        extra.append(row)
    book.save(path)
    with pytest.raises(SourceFileError, match="sheet '第二批' holds 4 row"):
        load("inspections", 2016)


def test_line_numbers_count_physical_lines_past_multi_line_values_and_blank_lines(raw, load, warehouse):
    path = write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS))
    text = path.read_bytes().decode("utf-8-sig").splitlines()
    content = TICKETS[0]["content"]
    multi_line = text[1].replace(content, '"' + content.replace("推诿", "\n推诿\n") + '"', 1)
    bad = text[2].replace("511102", "999999")  # rejected: its line must be named right
    path.write_text("\n".join([text[0], multi_line, "", bad, "", ""]) + "\n", encoding="utf-8")
    load("hotline", 2014)
    assert query(warehouse, "select ticket_id, line_number from raw.hotline") == [("T1", 2)]
    assert query(warehouse, "select line_number from raw.rejects") == [(6,)]


@pytest.mark.parametrize("encoding, slice_bytes", [("utf-8-sig", None), ("utf-8-sig", 100_000), ("gb18030", None)],
                         ids=["read where it is", "sliced", "transcoded"])
def test_a_nul_byte_past_the_first_mib_refuses_the_file_naming_its_line(raw, load, warehouse, monkeypatch,
                                                                        encoding, slice_bytes):
    """Wherever the file is read from (itself, or copies in memory: then the NUL is found while the
    slices before it are staged), the load fails naming the line and leaves the warehouse unchanged."""
    if slice_bytes:
        monkeypatch.setattr(PartitionLoader, "_slice_bytes", lambda self: slice_bytes)
    monkeypatch.setattr("orchestration.ingest.READ_CHUNK", 300_000)  # the NUL several reads in
    rows = [{**TICKETS[1], "ticket_id": f"N{i}", "content": "反映" * 200} for i in range(2000)]
    path = write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(rows), encoding=encoding)
    data = path.read_bytes()
    assert len(data) > 1 << 20
    cut = data.index(b"\n", 1_500_000) + 1
    path.write_bytes(data[:cut + 5] + b"\x00" + data[cut + 5:])
    line = data[:cut].count(b"\n") + 1
    with pytest.raises(SourceFileError, match=f"NUL byte at line {line} \\(byte {cut + 5}\\)"):
        load("hotline", 2014)
    assert query(warehouse, "select count(*) from raw.hotline") == [(0,)]


def test_an_event_dated_in_the_future_is_rejected(raw, load, warehouse):
    write_hotline(raw / "hotline" / "2014" / "a.csv", [{**in_2014(TICKETS)[0], "closed_at": "2099-01-01 00:00:00"}])
    load("hotline", 2014)
    (reason,) = query(warehouse, "select reason from raw.rejects")[0]
    assert "办结时间 (closed_at) \"2099-01-01 00:00:00\" is in the future" in reason


def test_columns_outside_the_contract_are_recorded_with_the_file_and_printed(raw, load, warehouse, capsys):
    headers = [c.header for c in HOTLINE.columns] + ["备注"]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS), headers=headers)
    load("hotline", 2014)
    assert query(warehouse, "select source_file, ignored_columns from raw.load_files") == [
        ("hotline/2014/a.csv", ["备注"])]
    cli.print_counts()
    assert "note: hotline/2014/a.csv: column(s) 备注 are not in the contract" in capsys.readouterr().out


def test_a_correction_delivered_beside_the_file_it_corrects_is_named_by_the_gate(raw, load, warehouse):
    rows = [{**TICKETS[1], "ticket_id": f"C{i}"} for i in range(10)]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(rows))
    repeated = {**TICKETS[1], "ticket_id": "C10"}  # and a ticket the correction repeats within itself
    write_hotline(raw / "hotline" / "2014" / "a_v2.csv", in_2014([*rows, repeated, repeated]))
    load("hotline", 2014)
    expectation = next(e for e in read_suite("raw_hotline_files").expectations
                       if e["meta"]["rule"].startswith("no file has more than"))
    assert "Delivering a correction" in expectation["meta"]["rule"]
    sql = expectation["kwargs"]["unexpected_rows_query"].format(
        batch="(select *, rows_rejected / rows_read as reject_rate from raw.load_files)")
    assert query(warehouse, f"select source_file, rows_rejected, duplicates_of from ({sql})") == [
        ("hotline/2014/a_v2.csv", 11, "(itself), hotline/2014/a.csv")]


# -- 2. personal data never in clear -----------------------------------------------------------------


def test_every_way_of_writing_a_number_in_the_corpus_is_masked_on_load(raw, load, warehouse):
    rows = [{**TICKETS[1], "ticket_id": f"M{i}", "content": text} for i, text in enumerate(MASKING_CORPUS)]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(rows))
    load("hotline", 2014)
    stored = dict(query(warehouse, "select ticket_id, content from raw.hotline"))
    assert {text: stored[f"M{i}"] for i, text in enumerate(MASKING_CORPUS)} == MASKING_CORPUS
    assert [text for text in MASKING_CORPUS if pii.mask(text) != MASKING_CORPUS[text]] == []


def test_the_gate_fails_on_every_number_of_the_corpus_left_in_clear(raw, load, warehouse):
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS[1:2]))
    load("hotline", 2014)
    expectation = next(e for e in read_suite("raw_hotline").expectations if "in clear" in e["meta"]["rule"]
                       and "number" in e["meta"]["rule"])
    sql = expectation["kwargs"]["unexpected_rows_query"]  # braces doubled for GX's format, as GX runs it
    personal = [text for text, masked in MASKING_CORPUS.items() if masked != text]
    with connect(warehouse) as con:
        missed = []
        for text in personal:
            con.execute("update raw.hotline set content = $text", {"text": text})
            if not con.execute(f"select count(*) from ({sql.format(batch='raw.hotline')})").fetchone()[0]:
                missed.append(text)
    assert missed == []


def test_personal_data_typed_into_the_wrong_column_is_not_kept_in_clear_with_the_rejected_row(raw, load, warehouse):
    """A phone or ID number where a code, a date or a status belongs: the row is rejected, and its reason
    and values in raw.rejects show the number masked. The ticket number (the source system's key) and
    the caller key stay as they are."""
    rows = [{**TICKETS[0], "ticket_id": "W1", "county_code": PHONE},
            {**TICKETS[1], "ticket_id": "W2", "status": f"电话{PHONE}", "intake_line": ID},
            {**TICKETS[1], "ticket_id": "W3", "received_at": f"{ID[:10]} 08:00:00"}]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(rows))
    load("hotline", 2014)
    rejects = query(warehouse, "select line_number, reason, record from raw.rejects order by line_number")
    assert [line for line, *_ in rejects] == [2, 3, 4]
    assert personal_data_in(repr(rejects).encode(), {PHONE}, (ID, ID[:17], ID[:10])) == set()
    (first_reason, first_record), (second_reason, second_record) = [r[1:] for r in rejects[:2]]
    assert first_reason == '区县代码 (county_code) "[手机号]" is not a configured unit'
    assert second_reason == ('原热线 (intake_line) holds an ID card, bank card or mobile number;'
                             ' 办理状态 (status) "电话[手机号]" is not one of 办结/办理中/退回')
    assert '"status":"电话[手机号]"' in second_record and '"intake_line":"[身份证号]"' in second_record
    expected_key = hmac.new(SALT.encode(), PHONE.encode(), hashlib.sha256).hexdigest()
    assert f'"caller_key":"{expected_key}"' in first_record and '"ticket_id":"W1"' in first_record


CASE = {"record_id": "K1", "county_code": "511102", "subject_id": "S1", "subject_rank": "一般干部",
        "is_top_leader": "否", "category": "其他违纪", "last_misconduct_on": "2013-01-01", "filed_on": "2014-03-01",
        "handled_on": "", "form": "", "outcome": "", "detained": "否"}


def test_a_code_holding_an_id_card_or_mobile_number_is_a_rejected_row_that_does_not_show_it(raw, load, warehouse):
    """Where a code is nobody's personal data (a pseudonymous person id, a legacy hotline's number), an ID
    card or mobile number in it is a rejected row, its reason not showing the number; a landline (the
    hotlines' own numbers) is not one. The gate finds such a number in the table all the same."""
    write_source(raw / "cases" / "2014" / "a.csv", "cases",
                 [{**CASE, "record_id": f"K{i}", "subject_id": subject}
                  for i, subject in enumerate(["S1", ID, f"身份证 {ID[:6]} {ID[6:14]} {ID[14:]}", "P0833200010100"])])
    write_hotline(raw / "hotline" / "2014" / "a.csv",
                  in_2014([{**TICKETS[1], "ticket_id": f"L{i}", "intake_line": line}
                           for i, line in enumerate(["12345", "0833-2000101", PHONE, f"+86 {PHONE}"])]))
    load("cases", 2014)
    load("hotline", 2014)
    rejects = query(warehouse, "select source, line_number, reason, record from raw.rejects order by all")
    assert [(source, line, reason) for source, line, reason, _ in rejects] == [
        ("cases", 3, "被审查人编号 (subject_id) holds an ID card, bank card or mobile number"),
        ("cases", 4, "被审查人编号 (subject_id) holds an ID card, bank card or mobile number"),
        ("hotline", 4, "原热线 (intake_line) holds an ID card, bank card or mobile number"),
        ("hotline", 5, "原热线 (intake_line) holds an ID card, bank card or mobile number")]
    assert personal_data_in(repr(rejects).encode(), {PHONE}, (ID, ID[:17], ID[6:14])) == set()
    assert query(warehouse, "select subject_id from raw.cases order by 1") == [("P0833200010100",), ("S1",)]
    assert query(warehouse, "select intake_line from raw.hotline order by 1") == [("0833-2000101",), ("12345",)]
    expectation = next(e for e in read_suite("raw_cases").expectations
                       if e["meta"]["rule"] == "被审查人编号 (subject_id) holds no ID card, bank card or mobile number")
    sql = expectation["kwargs"]["unexpected_rows_query"].format(batch="raw.cases")
    with connect(warehouse) as con:
        con.execute("update raw.cases set subject_id = $id where subject_id = 'S1'", {"id": ID})
        assert con.execute(f"select count(*) from ({sql})").fetchone() == (1,)


def test_caller_key_is_an_hmac_of_the_digits_with_the_secret_key(raw, load, warehouse):
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS[:1]))
    load("hotline", 2014)
    expected = hmac.new(SALT.encode(), PHONE.encode(), hashlib.sha256).hexdigest()
    assert query(warehouse, "select caller_key from raw.hotline") == [(expected,)]


def test_the_function_holding_the_key_leaves_the_connection_with_the_load(raw, warehouse, loader):
    """The key lives in the HMAC function the loader registers; it is removed when the load ends and
    stays removed through later transactions (DuckDB once brought a removed function back, without
    its Python side, at the next `begin`)."""
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS[:1]))
    (raw / "hotline" / "2015").mkdir()  # a load with no file to hash
    registered = "select count(*) from duckdb_functions() where function_name = $name"
    with connect(warehouse) as con:
        for year in (2014, 2015):
            loader(con=con).load(raw / "hotline" / str(year), year)
            con.execute("begin transaction; commit")
            assert con.execute(registered, {"name": pii.CALLER_KEY_FUNCTION}).fetchall() == [(0,)], year


def test_without_a_key_only_the_generated_sample_may_be_hashed(tmp_path, monkeypatch):
    monkeypatch.delenv("JINGTU_PII_SALT", raising=False)
    raw = tmp_path / "raw"
    generate(raw, hotline_scale=0.001, years=(2018,), progress=lambda _: None)
    assert settings.pii_key(raw) == settings.DEV_PII_SALT
    write_hotline(raw / "hotline" / "2018" / "real.csv", TICKETS)
    with pytest.raises(settings.PiiKeyMissing, match="export JINGTU_PII_SALT="):
        settings.pii_key(raw)
    monkeypatch.setenv("JINGTU_PII_SALT", "a-real-secret")
    assert settings.pii_key(raw) == "a-real-secret"


UNREADABLE_WITH_PERSONAL_DATA = {
    "no header": lambda p: p.write_text(f"T1,2018-05-01 08:00:00,{PHONE},{NAME},511124,其他,身份证{ID}\n"),
    "a ragged row": lambda p: p.write_text(
        ",".join(c.header for c in HOTLINE.columns) + f"\nT1,2018-05-01 08:00:00,{PHONE},{NAME},身份证{ID}\n"),
}


@pytest.mark.parametrize("problem", list(UNREADABLE_WITH_PERSONAL_DATA))
def test_an_unreadable_file_is_explained_without_its_personal_data(raw, load, problem):
    path = raw / "hotline" / "2018" / "zz_bad.csv"
    UNREADABLE_WITH_PERSONAL_DATA[problem](path)
    with pytest.raises(SourceFileError) as error:
        load("hotline", 2018)
    message = str(error.value)
    assert str(path) in message
    assert not any(secret in message for secret in (PHONE, NAME, ID, ID[:17])), message
    assert error.value.__cause__ is None  # no DuckDB text chained
    assert error.value.__context__ is None or error.value.__suppress_context__
    if problem == "a ragged row":
        assert "CSV Error on Line: 2; Expected Number of Columns: 12 Found: 5" in message


def test_a_run_failing_on_a_file_with_personal_data_writes_none_of_it(raw, warehouse, tmp_path, monkeypatch, capsys,
                                                                       caplog):
    """The same through `jingtu materialize`: the run fails naming the file, and nothing it wrote (the
    Dagster instance's event log and captured output, the warehouse's folder) or printed holds the
    file's personal data."""
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    path = raw / "hotline" / "2018" / "zz_bad.csv"
    UNREADABLE_WITH_PERSONAL_DATA["a ragged row"](path)
    assert cli.main(["materialize", "2018"]) == 1
    printed = capsys.readouterr()
    assert "zz_bad.csv" in printed.out + printed.err
    secrets = (NAME, ID, ID[:17])
    written = personal_data_written(tmp_path, {PHONE}, secrets, besides=raw)
    assert {"dagster_home", warehouse.parent.name} <= {path.parts[0] for path in written}
    assert {str(path): held for path, held in written.items() if held} == {}
    assert personal_data_in((printed.out + printed.err + caplog.text).encode(), {PHONE}, secrets) == set()


def test_a_link_out_of_the_landing_zone_is_refused(raw, load, tmp_path):
    outside = tmp_path / "secret.csv"
    write_hotline(outside, TICKETS)
    (raw / "hotline" / "2018" / "zz_link.csv").symlink_to(outside)
    with pytest.raises(SourceFileError, match="a link to a file outside the landing zone"):
        load("hotline", 2018)


def test_a_load_killed_while_reading_gb18030_leaves_no_copy_of_the_file(raw, tmp_path):
    source = write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS * 2000), encoding="gb18030")
    temp = tmp_path / "tmp"
    temp.mkdir()
    # Killed with SIGKILL while DuckDB reads the transcoded copy: nothing gets to clean up.
    script = textwrap.dedent(f"""
        import os, signal
        import duckdb
        from pathlib import Path
        from orchestration.ingest import csv_slices
        con = duckdb.connect()
        for part in csv_slices(Path({str(source)!r}), "gb18030", 1 << 30):
            (phones,) = con.execute(f"select count(*) from read_csv('{{part.readable}}', all_varchar = true)"
                                    " where 来电号码 = '{PHONE}'").fetchone()
            assert phones > 0  # read, in UTF-8, as the loader reads it
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(temp)}, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert list(temp.rglob("*")) == []  # the copy was in memory only: no file, no pipe


def test_the_rows_of_a_load_killed_halfway_stay_pending_until_the_next_load_deletes_them(raw, warehouse, load):
    folder = raw / "hotline" / "2014"
    write_hotline(folder / "a.csv", in_2014(TICKETS))
    write_hotline(folder / "b.csv", in_2014([{**TICKETS[1], "ticket_id": "T9"}]))
    # Killed with SIGKILL once the first file's rows are in the warehouse: nothing gets to clean up.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from orchestration.contracts import HOTLINE
        from orchestration.ingest import PartitionLoader, ingest
        from orchestration.lib.duck import connect
        copy = PartitionLoader._copy_staged
        def copy_then_die(self, *args):
            copy(self, *args)
            os.kill(os.getpid(), signal.SIGKILL)
        PartitionLoader._copy_staged = copy_then_die
        with connect(Path({str(warehouse)!r})) as con:
            ingest(con, HOTLINE, 2014, Path({str(raw)!r}), Path({str(UNITS_CSV)!r}), {SALT!r})
    """)
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert query(warehouse, "select partition_year, source_file, count(*) from raw.hotline group by all") == [
        (-2014, "hotline/2014/a.csv", 2)]  # pending: no query of a year reads them
    assert query(warehouse, "select count(*) from raw.load_files") == [(0,)]
    load("hotline", 2015)  # any load of the source deletes them first
    assert query(warehouse, "select count(*) from raw.hotline where partition_year < 0") == [(0,)]
    load("hotline", 2014)
    assert query(warehouse, "select ticket_id from raw.hotline where partition_year = 2014 order by 1") == [
        ("T1",), ("T2",), ("T9",)]


def test_the_spills_of_a_process_killed_while_spilling_stop_no_later_connection(tmp_path, monkeypatch):
    """DuckDB refuses to turn spill encryption on while the folder it spills into holds another process's
    files: the warehouse could be opened neither by the project nor by dbt until someone removed them,
    nor could an in-memory database where another program's DuckDB had spilled (the working directory's .tmp/)."""
    from orchestration.dbt import DBT_PROJECT_DIR, failure_messages, invoke_dbt
    from orchestration.lib.duck import spill_folder

    warehouse = tmp_path / "w.duckdb"
    held = "create temp table held as select repeat('x', 20) || i as line from range(3000000) as r(i)"
    # Killed with SIGKILL while both spill: nothing gets to clean up.
    script = textwrap.dedent(f"""
        import os, signal
        import duckdb
        from orchestration.lib.duck import connect
        con = connect({str(warehouse)!r})
        con.execute({held!r})
        other = duckdb.connect()
        other.execute("set memory_limit = '30MB'")
        other.execute({held!r})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    monkeypatch.setenv("JINGTU_DUCKDB_MEMORY_LIMIT", "30MB")
    killed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=False)
    assert killed.returncode == -signal.SIGKILL
    left = spill_folder(warehouse)
    assert list(left.iterdir()) and list((tmp_path / ".tmp").iterdir())
    monkeypatch.chdir(tmp_path)
    with connect() as con:
        assert con.execute(held).fetchone() == (3000000,)
    with connect(warehouse, read_only=True) as con:  # a reader leaves them: it does not hold the file alone
        assert con.execute(held).fetchone() == (3000000,)
        own = Path(con.execute("select current_setting('temp_directory')").fetchone()[0])
        assert own.parent == tmp_path and list(own.iterdir())  # beside the warehouse, a folder of its own
        dead_reader = own.with_name(f"{left.name}-killed")
        shutil.copytree(own, dead_reader)
    assert list(left.iterdir()) and not own.exists()
    shown = invoke_dbt(["show", "--quiet", "--no-write-json", "--inline", "select 1 as one", "--project-dir",
                        str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)], warehouse=warehouse)
    assert shown.success, failure_messages(shown)
    assert (not left.exists() or list(left.iterdir()) == []) and not dead_reader.exists()


# -- 4. errors that name their cause ---------------------------------------------------------------

class _FullDisk:
    """A connection whose writes into the staging table fail as on a full disk."""

    def __init__(self, con):
        self.con = con

    def execute(self, sql, *args):
        if sql.lstrip().startswith(("insert into scratch.", "insert into temp.")):
            raise duckdb.IOException('IO Error: Could not write file "jingtu.duckdb.tmp": No space left on device')
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_full_disk_is_blamed_on_the_warehouse_not_on_the_input_file(raw, warehouse, loader):
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS))
    expected = "the warehouse could not be written while loading hotline/2014/a.csv: .*No space left on device"
    with connect(warehouse) as con, pytest.raises(WarehouseWriteError, match=expected):
        loader(con=_FullDisk(con)).load(raw / "hotline" / "2014", 2014)


def test_materialising_into_a_damaged_warehouse_says_so_and_exits_3(raw, warehouse, capsys, monkeypatch):
    monkeypatch.setenv("JINGTU_RAW", str(raw))
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table t as select range as i from range(1000000)")
    os.truncate(warehouse, warehouse.stat().st_size // 2)
    assert cli.main(["materialize", "2018"]) == cli.ERROR
    err = capsys.readouterr().err
    assert f"{warehouse} is damaged (IO Error: Could not read enough bytes" in err and "jingtu run" in err


def test_a_failed_step_is_reported_with_its_cause():
    from dagster._utils.error import SerializableErrorInfo

    cause = SerializableErrorInfo('IO Error: Could not read enough bytes from file "w.duckdb"', [], "IOException")
    error = SerializableErrorInfo('Error occurred while executing op "raw__hotline"', [], "StepError", cause)
    assert "is damaged (IO Error: Could not read enough bytes" in cli._causes(error)
    other = SerializableErrorInfo("Error occurred while executing op", [], "StepError",
                                  SerializableErrorInfo("KeyError: 'x'", [], "KeyError"))
    assert cli._causes(other) == "Error occurred while executing op ← KeyError: 'x'"


# -- 5. no orphans -----------------------------------------------------------------------------------


def test_dbt_runs_in_the_warehouse_folder_and_finds_the_warehouse_by_name(tmp_path, monkeypatch):
    """dbt's saved parse depends on the profile's warehouse path: given by name from its folder, one
    parse serves every warehouse of that name (orchestration/dbt.py). dbt runs in the step's process
    (so that it cannot outlive it: test_serving kills `jingtu` mid-dbt), which is left where it was."""
    from dbt.cli.main import dbtRunner

    from orchestration.dbt import DBT_PROJECT_DIR, invoke_dbt

    monkeypatch.setenv("JINGTU_WAREHOUSE", str(tmp_path / "w" / "jingtu.duckdb"))
    monkeypatch.delenv("JINGTU_UNITS", raising=False)
    (tmp_path / "w").mkdir()
    seen = {}

    def invoke(runner, args):
        seen.update(args=args, cwd=os.getcwd(), **{name: os.environ.get(name) for name in (
            "JINGTU_DBT_WAREHOUSE", "JINGTU_UNITS", "DBT_TARGET_PATH", "JINGTU_DBT_YEAR")})

    monkeypatch.setattr(dbtRunner, "invoke", invoke)
    before = os.getcwd()
    invoke_dbt(["build"], {"JINGTU_DBT_YEAR": "2018"})
    assert seen["cwd"] == str(tmp_path / "w") and os.getcwd() == before
    assert (seen["args"], seen["JINGTU_DBT_YEAR"], seen["JINGTU_DBT_WAREHOUSE"]) == (["build"], "2018", "jingtu.duckdb")
    assert seen["JINGTU_UNITS"] == str(DBT_PROJECT_DIR / "seeds" / "units.csv")
    assert Path(seen["DBT_TARGET_PATH"]).is_absolute()  # read from where dbt starts
    assert "JINGTU_DBT_YEAR" not in os.environ
    profile = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    assert "env_var('JINGTU_DBT_WAREHOUSE', env_var('JINGTU_WAREHOUSE'" in profile


def test_every_location_given_relative_is_taken_from_the_current_folder(tmp_path, monkeypatch):
    """Where dbt starts in another folder, or a path becomes a link: a relative JINGTU_QUALITY failed the
    checks on "relative path can't be expressed as a file URI", a relative DAGSTER_HOME was refused."""
    monkeypatch.chdir(tmp_path)
    for variable, location in (("JINGTU_WAREHOUSE", settings.warehouse_path), ("JINGTU_RAW", settings.raw_root),
                               ("JINGTU_UNITS", settings.units_file), ("JINGTU_SERVING", settings.serving_path),
                               ("JINGTU_EXPECTATIONS", settings.expectations_dir),
                               ("JINGTU_QUALITY", settings.quality_dir), ("JINGTU_REPORTS", settings.reports_dir),
                               ("DAGSTER_HOME", settings.dagster_home)):
        monkeypatch.setenv(variable, "here")
        assert location() == tmp_path / "here", variable


def test_dbt_reads_the_units_and_the_warehouse_the_loads_of_its_run_used(tmp_path, monkeypatch):
    """A units list named relative to the folder `jingtu` started in was read from there by the loader,
    but from dbt_project/ by dbt, whose build failed on "No files found". And a run whose warehouse
    resource names a database and a units list (the launchpad's config) loaded into them, then built
    the environment's with dbt."""
    from dagster import materialize
    from dbt.cli.main import dbtRunner, dbtRunnerResult

    from orchestration.dbt import Dbt, invoke_dbt
    from orchestration.defs.dbt_models import jingtu_dbt_models
    from orchestration.resources import Warehouse

    seen = {}

    def invoke(runner, args):
        seen.update(cwd=os.getcwd(), units=os.environ["JINGTU_UNITS"], warehouse=os.environ["JINGTU_DBT_WAREHOUSE"])
        return dbtRunnerResult(success=True)

    monkeypatch.setattr(dbtRunner, "invoke", invoke)
    monkeypatch.setenv("JINGTU_WAREHOUSE", str(tmp_path / "env" / "jingtu.duckdb"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JINGTU_UNITS", "units.csv")
    invoke_dbt(["build"])
    assert seen["units"] == str(tmp_path / "units.csv") == str(settings.units_file())

    configured = Warehouse(database=str(tmp_path / "other" / "w.duckdb"), units_file=str(tmp_path / "mine.csv"))
    result = materialize([jingtu_dbt_models], partition_key="2018", resources={"warehouse": configured, "dbt": Dbt()})
    assert result.success
    assert (seen["cwd"], seen["warehouse"], seen["units"]) == (str(tmp_path / "other"), "w.duckdb",
                                                             str(tmp_path / "mine.csv"))


def test_a_console_script_ends_with_its_status_its_output_and_its_exit_handlers():
    """`exit_now` skips only the interpreter's teardown: the exit handlers still run (a temporary
    folder is removed), buffered output is written, and the status is the script's."""
    script = ("import atexit, sys, tempfile; from orchestration.lib.processes import exit_now;"
              " folder = tempfile.TemporaryDirectory(); print(folder.name);"
              " atexit.register(print, 'handled'); sys.stdout.write('buffered'); exit_now(7)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    folder, rest = done.stdout.split("\n", 1)
    assert (done.returncode, rest) == (7, "bufferedhandled\n")
    assert not Path(folder).exists()


@pytest.mark.parametrize("interrupt", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_ends_the_process_without_raising_into_the_work(interrupt, tmp_path):
    """`run_until_interrupted`: the signal is handled beside the work, never raised into it (where it
    had left dbt closing connections its threads still used); the process ends as under a kill, the
    work's own clean-up not run, once it has said why and settled, with the shell's status."""
    marks = tmp_path / "marks"
    script = textwrap.dedent(f"""
        import pathlib, time
        from orchestration.lib.processes import run_until_interrupted

        def mark(text):
            with pathlib.Path({str(marks)!r}).open("a") as file:
                file.write(text + " ")

        def work():
            try:
                print("working", flush=True)
                time.sleep(30)
            finally:
                mark("cleaned-up")

        run_until_interrupted(work, lambda: "stopped", lambda: mark("settled"))
    """)
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline() == "working\n"
        run.send_signal(interrupt)
        status = run.wait(timeout=10)
    finally:
        run.kill()
    assert (status, run.stderr.read(), marks.read_text()) == (128 + interrupt, "stopped\n", "settled ")


def test_the_processes_a_run_starts_can_be_terminated_even_if_it_was_started_ignoring_sigterm():
    """A process started with SIGTERM ignored (by a parent that ignores it) passes that on to the
    processes it starts: Dagster's `tail`s, mirroring each step's output, then ignored its SIGTERM at
    the step's end, held the step 30 s each and lived on. Within `run_until_interrupted` they stop."""
    script = textwrap.dedent("""
        import signal, subprocess
        from orchestration.lib.processes import run_until_interrupted

        signal.signal(signal.SIGTERM, signal.SIG_IGN)

        def work():
            child = subprocess.Popen(["sleep", "30"])
            child.terminate()
            return child.wait(timeout=5)

        print(run_until_interrupted(work, lambda: "stopped"))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=False)
    assert (done.returncode, done.stdout) == (0, f"{-signal.SIGTERM}\n"), done.stderr


def test_ctrl_c_during_a_run_stops_it_at_once_saying_what_it_leaves(raw, warehouse, tmp_path, monkeypatch):
    """Ctrl-C in dbt's build: the process ends within seconds (it had hung in DuckDB, or run on, or told
    dbt's traceback as the build's failure), with the shell's status for SIGINT and the words of
    `cli.interrupted`; the warehouse is free at once and the run is not recorded as done."""
    home = project_dagster_home(tmp_path / "dagster_home")
    env = {**os.environ, "JINGTU_RAW": str(raw), "DAGSTER_HOME": str(home)}
    run = subprocess.Popen([Path(sys.executable).parent / "jingtu", "materialize", "2017"], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in run.stdout:
            if "quality checks done" in line:  # dbt's build, the next step, begins
                break
        time.sleep(2)  # into its models
        assert run.poll() is None, "the run ended before it could be interrupted"
        run.send_signal(signal.SIGINT)
        status = run.wait(timeout=30)
        _, err = run.communicate(timeout=30)  # a process it started may hold its output open: not for long
    finally:
        run.kill()
    assert status == 128 + signal.SIGINT == 130, err
    assert err.startswith("interrupted while building the marts (dbt): the run stops here.") and "Traceback" not in err
    connect(warehouse).close()  # nothing holds it
    assert not Path(f"{warehouse}.inputs.json").exists()
    # the run failed at once, its warehouse slot free: a run from the UI or a schedule does not wait for it
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:
        (ended,) = instance.get_runs()
        assert ended.status == DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots


def test_a_runs_step_waits_for_another_process_to_let_go_of_the_warehouse(tmp_path):
    # `jingtu publish` or `jingtu audit` holding the warehouse for a moment had failed a run's step on
    # DuckDB's lock; a person's own command still says at once that the file is in use.
    database = tmp_path / "jingtu.duckdb"
    connect(database).close()
    holder = hold_in_another_process(database, 2)
    with pytest.raises(duckdb.IOException, match="Conflicting lock"):
        connect(database)
    with Warehouse(database=str(database)).connect() as con:  # as every ingestion step opens it
        assert holder.poll() == 0  # opened once the other process had ended, not before
        assert con.execute("select 42").fetchone() == (42,)
