"""Ingestion of raw/<source>/<year>/ into raw.* tables: contracts, encodings, rejects, atomicity."""

import hashlib
import os
import shutil
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from orchestration.contracts import HOTLINE, MUNICIPAL_CODE, SOURCES
from orchestration.ingest import (
    PartitionLoader,
    SourceFileError,
    configured_units,
    files_gone,
    ingest,
    sniff_encoding,
)
from orchestration.lib.duck import connect
from orchestration.lib.read_ahead import ReadAhead
from tests.conftest import SALT, UNITS_CSV, personal_data_in, query, raw_callers, write_source

TICKETS = [  # canonical names; the first two are valid, the others each break one rule
    {"ticket_id": "T1", "received_at": "2018-05-01 08:00:00", "caller_phone": "13912345678", "caller_name": "王伟",
     "county_code": "511124", "category": "干部作风", "content": "反映推诿，回电13912345678，身份证51112419800101123X",
     "intake_line": "12369", "due_at": "2018-05-08 08:00:00", "closed_at": "2018-05-02 09:00:00",
     "status": "办结", "rating": "满意"},
    {"ticket_id": "T2", "received_at": "2018-05-02 10:00:00", "caller_phone": "", "caller_name": "",
     "county_code": "511102", "category": "其他", "content": "", "intake_line": "12345",
     "due_at": "2018-05-09 10:00:00", "closed_at": "", "status": "办理中", "rating": ""},
]
BROKEN = {
    "unknown county": ({"ticket_id": "T3", "county_code": "999999"}, "is not a configured unit"),
    "unparseable date": ({"ticket_id": "T4", "received_at": "2018/05/03"}, "is not a YYYY-MM-DD HH:MM:SS"),
    "duplicate id": ({"ticket_id": "T1"}, "duplicate 工单编号 (ticket_id) (first at line 2"),
    "closed before received": ({"ticket_id": "T5", "closed_at": "2018-04-30 08:00:00"}, "is before 受理时间"),
    "unknown enum": ({"ticket_id": "T6", "category": "投诉"}, "诉求类别 (category) \"投诉\" is not one of"),
    "other year": ({"ticket_id": "T7", "received_at": "2017-12-31 23:00:00"}, "row year 2017 is not the folder"),
}


def in_2014(rows: list[dict]) -> list[dict]:
    """The same tickets moved to 2014, a year the sample leaves empty."""
    return [{**r, **{k: "2014" + r[k][4:] for k in ("received_at", "due_at", "closed_at") if r[k]}} for r in rows]


def write_hotline(path: Path, rows: list[dict], encoding: str = "utf-8-sig", headers=None) -> Path:
    return write_source(path, "hotline", rows, encoding, headers)


def hotline_rows(warehouse) -> list[tuple]:
    return query(warehouse, "select * exclude (load_id, loaded_at) from raw.hotline order by source_file, line_number")


def test_chinese_headers_map_to_canonical_columns_in_any_order(raw, load, warehouse):
    headers = [c.header for c in HOTLINE.columns][::-1] + ["备注"]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS), headers=headers)
    report = load("hotline", 2014)
    assert report.files[0].ignored_headers == ["备注"]
    (row,) = query(warehouse, "select ticket_id, received_at::varchar, county_code, category, status, rating "
                              "from raw.hotline where ticket_id = 'T1'")
    assert row == ("T1", "2014-05-01 08:00:00", "511124", "干部作风", "办结", "满意")
    columns = [r[0] for r in query(warehouse, "select column_name from information_schema.columns "
                                              "where table_schema = 'raw' and table_name = 'hotline'")]
    assert columns[1:12] == [c.warehouse_name for c in HOTLINE.stored_columns]


def test_text_columns_are_stored_as_their_kind_of_values_decides(raw, load, warehouse):
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS))
    load("hotline", 2014)
    storage = dict(query(warehouse, "select distinct column_name, compression from pragma_storage_info('raw.hotline')"
                                    " where segment_type = 'VARCHAR' and compression <> 'Constant'"))
    assert {name: storage.get(name) for name in ("ticket_id", "caller_key", "category", "county_code", "source_file")} == {
        "ticket_id": "FSST", "caller_key": "FSST", "category": "Dictionary", "county_code": "Dictionary",
        "source_file": "Dictionary"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_every_supported_encoding_loads_the_same_chinese_text(raw, load, warehouse, encoding):
    rows = in_2014([{**TICKETS[0], "content": "井研县马边彝族自治县𠀀"}])
    write_hotline(raw / "hotline" / "2014" / "a.csv", rows, encoding)
    report = load("hotline", 2014)
    assert report.files[0].encoding == ("gb18030" if encoding == "gb18030" else "utf-8")
    assert query(warehouse, "select content, category from raw.hotline") == [("井研县马边彝族自治县𠀀", "干部作风")]


def test_xlsx_dates_and_numbers_read_like_csv(raw, load, warehouse):
    # The sample's 2016 inspections are .xlsx with typed date and number cells.
    report = load("inspections", 2016)
    assert report.files[0].file_format == "xlsx"
    rows = query(warehouse, "select count(*), min(started_on), max(ended_on), sum(problems_found) "
                            "from raw.inspections")
    count, first, last, found = rows[0]
    assert count > 0 and first.year == 2016 and last.year == 2016 and found > 0
    assert query(warehouse, "select count(*) from raw.inspections where rectification_due_on <= ended_on") == [(0,)]
    assert query(warehouse, "select count(*) from raw.inspections where problems_found % 1 <> 0") == [(0,)]


def test_blanks_around_codes_dates_and_labels_are_forgiven_and_free_text_is_kept_as_is(raw, load, warehouse):
    # Every space separator DuckDB's trim() strips, ASCII and not (no-break, ideographic, em), around
    # ASCII codes and timestamps and around a Chinese label; a tab is not a blank to trim().
    blanks = [" ", "\u00a0", "\u3000", "\u2003", " \u3000"]
    (ticket,) = in_2014(TICKETS[:1])
    rows = [{**ticket, "ticket_id": f"{blank}T{n}", "county_code": f"511124{blank}",
             "received_at": f"{blank}2014-05-01 08:00:00{blank}", "category": f"{blank}干部作风",
             "status": f"办结{blank}", "content": f"{blank}反映推诿{blank}"} for n, blank in enumerate(blanks)]
    rows.append({**ticket, "ticket_id": "T\t9", "content": "反映推诿"})
    write_hotline(raw / "hotline" / "2014" / "a.csv", rows)
    report = load("hotline", 2014)
    assert (report.rows_loaded, report.rows_rejected) == (len(rows), 0)
    stored = query(warehouse, "select ticket_id, county_code, received_at::varchar, category, status, content"
                              " from raw.hotline order by line_number")
    assert stored == [(f"T{n}", "511124", "2014-05-01 08:00:00", "干部作风", "办结", f"{blank}反映推诿{blank}")
                      for n, blank in enumerate(blanks)] + [("T\t9", "511124", "2014-05-01 08:00:00", "干部作风",
                                                             "办结", "反映推诿")]


def test_each_broken_row_is_rejected_with_file_line_and_reason(raw, load, warehouse):
    rows = list(TICKETS) + [{**TICKETS[0], **change} for change, _ in BROKEN.values()]
    write_hotline(raw / "hotline" / "2018" / "z_extra.csv", rows)
    for path in (raw / "hotline" / "2018").glob("12345_*"):
        path.unlink()
    report = load("hotline", 2018)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (8, 2, 6)
    rejects = query(warehouse, "select source_file, line_number, reason, record->>'ticket_id' from raw.rejects "
                               "where source = 'hotline' order by line_number")
    assert [r[1] for r in rejects] == [4, 5, 6, 7, 8, 9]
    for (name, (change, expected)), (source_file, _, reason, ticket) in zip(BROKEN.items(), rejects):
        assert source_file == "hotline/2018/z_extra.csv", name
        assert expected in reason, name
        assert ticket == change["ticket_id"], name


def test_a_row_breaking_several_rules_is_rejected_with_every_reason_in_the_rules_order(raw, load, warehouse):
    (ticket,) = in_2014(TICKETS[:1])
    rows = [ticket, {**ticket, "ticket_id": "T2", "county_code": "", "rating": "还行", "closed_at": "2014-04-30 08:00:00"}]
    write_hotline(raw / "hotline" / "2014" / "a.csv", rows)
    load("hotline", 2014)
    reasons = ('区县代码 (county_code) is empty; 满意度评价 (rating) "还行" is not one of 满意/基本满意/不满意;'
               " 办结时间 (closed_at) is before 受理时间 (received_at)")
    assert query(warehouse, "select line_number, reason from raw.rejects") == [(3, reasons)]


def test_line_numbers_stay_exact_in_files_read_in_parallel_chunks(raw, load, warehouse):
    # 300,000 rows (about 30 MB): DuckDB reads them in several chunks on both cores.
    count = 300_000
    rows = [{**TICKETS[1], "ticket_id": f"T{i:07d}"} for i in range(count)]
    rows[150_000]["county_code"] = "999999"
    rows[count - 1]["ticket_id"] = rows[7]["ticket_id"]
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(rows))
    load("hotline", 2014)
    misplaced = query(warehouse, "select count(*) from raw.hotline where partition_year = 2014"
                                 " and line_number <> ticket_id[2:]::integer + 2")
    assert misplaced == [(0,)]
    assert query(warehouse, "select line_number, reason from raw.rejects where partition_year = 2014 order by 1") == [
        (150_002, '区县代码 (county_code) "999999" is not a configured unit'),
        (count + 1, "duplicate 工单编号 (ticket_id) (first at line 9 of hotline/2014/a.csv)")]


def test_counts_reconcile_per_file_with_the_lines_in_each_file(raw, load, warehouse):
    for source in SOURCES:
        for year in (2015, 2016, 2017, 2018):
            load(source, year)
    files = query(warehouse, "select source_file, rows_read, rows_loaded, rows_rejected from raw.load_files")
    assert len(files) == len([p for p in raw.glob("*/*/*") if p.is_file()])
    for source_file, read, loaded, rejected in files:
        assert read == loaded + rejected
        table = source_file.split("/")[0]
        (in_table,) = query(warehouse, f"select count(*) from raw.{table} where source_file = $f", {"f": source_file})
        (in_rejects,) = query(warehouse, "select count(*) from raw.rejects where source_file = $f", {"f": source_file})
        assert (in_table[0], in_rejects[0]) == (loaded, rejected)
        if source_file.endswith(".csv"):  # one record per line in the generated files, plus the header
            lines = (raw / source_file).read_bytes().count(b"\n") - 1
            assert read == lines, source_file
    ((rejected_total,),) = query(warehouse, "select count(*) from raw.rejects")
    assert rejected_total == sum(f[3] for f in files) > 0


def test_reingesting_a_year_replaces_it_without_duplicates(raw, load, warehouse):
    load("cases", 2017)
    first = query(warehouse, "select * exclude (load_id, loaded_at) from raw.cases order by record_id")
    first_rejects = query(warehouse, "select source_file, line_number, reason from raw.rejects order by all")
    load("cases", 2017)
    assert query(warehouse, "select * exclude (load_id, loaded_at) from raw.cases order by record_id") == first
    assert query(warehouse, "select source_file, line_number, reason from raw.rejects order by all") == first_rejects
    assert query(warehouse, "select count(distinct load_id) from raw.cases") == [(1,)]


def raw_state(warehouse, source: str = "hotline") -> tuple[list, list, list]:
    """What a load leaves, without the load's identity: rows, rejects, files."""
    return (query(warehouse, f"select * exclude (load_id, loaded_at) from raw.{source} order by all"),
            query(warehouse, "select * exclude (load_id, loaded_at) from raw.rejects order by all"),
            query(warehouse, "select * exclude (load_id, loaded_at) from raw.load_files order by all"))


def test_a_file_larger_than_a_slice_is_staged_in_slices_and_leaves_the_same_rows(raw, warehouse, tmp_path,
                                                                                 monkeypatch):
    # Beside the sample's months (UTF-8 with a BOM, GB18030): records spanning lines, blank lines between
    # records and inside values, doubled quotes, a rejected row and a key repeated far from its first.
    rows = [{**TICKETS[1], "ticket_id": f"M{i:04d}", "content": "第一行\n\n第二行 \"引号\"" if i % 3 else "反映"}
            for i in range(3000)]
    rows[1500]["county_code"] = "999999"
    rows[2999]["ticket_id"] = rows[10]["ticket_id"]
    for name, encoding in (("spanning_lines.csv", "utf-8"), ("spanning_lines_gb.csv", "gb18030")):
        path = write_hotline(raw / "hotline" / "2018" / name, rows, encoding)
        text = path.read_bytes().decode(encoding)
        path.write_bytes(text.replace("\nM0050,", "\n\nM0050,").replace("\nM2000,", "\n\n\nM2000,").encode(encoding))
    stages = []

    def load_into(database: Path) -> None:
        stages.clear()
        with connect(database) as con:
            PartitionLoader(con, HOTLINE, configured_units(con, UNITS_CSV), SALT).load(raw / "hotline" / "2018", 2018)

    stage = PartitionLoader._stage
    monkeypatch.setattr(PartitionLoader, "_stage", lambda self, *args: stages.append(args) or stage(self, *args))
    load_into(warehouse)
    files = len(list((raw / "hotline" / "2018").iterdir()))
    assert len(stages) == files  # the sample's year fits in memory many times over: a file is one slice
    monkeypatch.setattr(PartitionLoader, "_slice_bytes", lambda self: 20_000)
    monkeypatch.setattr("orchestration.ingest.READ_CHUNK", 7_000)  # a slice of several reads, cut anywhere
    sliced = tmp_path / "sliced.duckdb"
    load_into(sliced)
    assert len(stages) > 3 * files
    assert raw_state(warehouse) == raw_state(sliced)
    assert query(sliced, "select source_file, file_sha256 from raw.load_files order by 1") == [
        (f"hotline/2018/{p.name}", hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted((raw / "hotline" / "2018").iterdir())]
    assert query(sliced, "select line_number, reason from raw.rejects where source_file like '%spanning_lines.csv'"
                         " order by 1") == [
        (3503, '区县代码 (county_code) "999999" is not a configured unit'),
        (7002, "duplicate 工单编号 (ticket_id) (first at line 24 of hotline/2018/spanning_lines.csv)")]


def test_a_new_month_is_appended_and_leaves_what_a_full_reload_would(raw, load, warehouse, tmp_path):
    december = raw / "hotline" / "2018" / "12345_2018-12.csv"
    aside = december.rename(tmp_path / december.name)
    first = load("hotline", 2018)
    aside.rename(december)
    report = load("hotline", 2018)
    assert (report.mode, [f.path for f in report.files]) == ("append", ["hotline/2018/12345_2018-12.csv"])
    assert report.files_kept == len(first.files) > 1 and report.rows_loaded > 0
    assert query(warehouse, "select count(distinct load_id) from raw.hotline") == [(2,)]
    reloaded = tmp_path / "reloaded.duckdb"
    with connect(reloaded) as con:
        assert ingest(con, HOTLINE, 2018, raw, UNITS_CSV, SALT).mode == "full"
    assert raw_state(warehouse) == raw_state(reloaded)


def test_nothing_new_is_nothing_to_do(raw, load, warehouse):
    load("hotline", 2018)
    before = query(warehouse, "select load_id, count(*) from raw.hotline group by all")
    report = load("hotline", 2018)
    assert (report.mode, report.files, report.load_id, report.files_kept) == ("unchanged", [], None, 10)
    assert query(warehouse, "select load_id, count(*) from raw.hotline group by all") == before


def test_an_appended_file_repeating_a_loaded_key_or_its_own_rejects_the_repeats(raw, load, warehouse):
    folder = raw / "hotline" / "2014"
    write_hotline(folder / "a.csv", in_2014(TICKETS))
    load("hotline", 2014)
    nine = {**TICKETS[1], "ticket_id": "T9"}
    write_hotline(folder / "b.csv", in_2014([nine, TICKETS[0], nine]))  # a loaded key, and one repeated in b.csv
    assert load("hotline", 2014).mode == "append"
    assert query(warehouse, "select ticket_id, source_file from raw.hotline order by 1") == [
        ("T1", "hotline/2014/a.csv"), ("T2", "hotline/2014/a.csv"), ("T9", "hotline/2014/b.csv")]
    assert query(warehouse, "select source_file, line_number, reason from raw.rejects order by 2") == [
        ("hotline/2014/b.csv", 3, "duplicate 工单编号 (ticket_id) (first at line 2 of hotline/2014/a.csv)"),
        ("hotline/2014/b.csv", 4, "duplicate 工单编号 (ticket_id) (first at line 2 of hotline/2014/b.csv)")]


CHANGES = {
    "a file rewritten": lambda folder: (write_hotline(folder / "a.csv", in_2014(TICKETS[:1])),
                                        os.utime(folder / "a.csv", ns=(1, 1))),
    "a file removed": lambda folder: (folder / "c.csv").unlink(),
    "a file sorting before a loaded one": lambda folder: shutil.copy(folder / "c.csv", folder / "b.csv"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_other_change_reloads_the_partition_whole(raw, load, warehouse, tmp_path, change):
    folder = raw / "hotline" / "2014"
    write_hotline(folder / "a.csv", in_2014(TICKETS))
    write_hotline(folder / "c.csv", in_2014([{**TICKETS[1], "ticket_id": "T9"}]))
    load("hotline", 2014)
    CHANGES[change](folder)
    report = load("hotline", 2014)
    assert (report.mode, report.files_kept) == ("full", 0)
    assert sorted(f.path.split("/")[-1] for f in report.files) == sorted(p.name for p in folder.iterdir())
    reloaded = tmp_path / "reloaded.duckdb"
    with connect(reloaded) as con:
        ingest(con, HOTLINE, 2014, raw, UNITS_CSV, SALT)
    assert raw_state(warehouse) == raw_state(reloaded)


def test_another_salt_or_unit_list_reloads_the_partition(raw, warehouse, tmp_path):
    units = tmp_path / "units.csv"
    units.write_text(UNITS_CSV.read_text() + "519999,新区,county\n", encoding="utf-8")
    modes = []
    with connect(warehouse) as con:
        for units_csv, salt in ((UNITS_CSV, SALT), (UNITS_CSV, SALT), (UNITS_CSV, "another salt"), (units, "another salt")):
            modes.append(ingest(con, SOURCES["cases"], 2017, raw, units_csv, salt).mode)
    assert modes == ["full", "unchanged", "full", "full"]


def test_a_rule_that_follows_from_code_alone_reloads_the_partition_when_it_changes(raw, warehouse, monkeypatch):
    # The personal-number rule of hand-typed codes is not a field of the contract: its SQL is in the digest.
    from orchestration.lib import pii

    with connect(warehouse) as con:
        modes = [ingest(con, SOURCES["cases"], 2017, raw, UNITS_CSV, SALT).mode]
        monkeypatch.setattr(pii, "PERSONAL_NUMBER", pii.PERSONAL_NUMBER + "|[0-9]{20}")
        modes.append(ingest(con, SOURCES["cases"], 2017, raw, UNITS_CSV, SALT).mode)
    assert modes == ["full", "full"]


def test_a_unit_list_that_names_the_municipal_code_too_loads_the_same_rows(raw, warehouse, tmp_path):
    # The cases allow the municipal code besides the units: listed in the units file as well, it is
    # one unit, not an error, and every row is judged as before.
    units = tmp_path / "units.csv"
    units.write_text(UNITS_CSV.read_text() + f"{MUNICIPAL_CODE},乐山市,city\n", encoding="utf-8")
    outcomes = []
    for units_csv in (UNITS_CSV, units):
        with connect(tmp_path / f"{units_csv.parent.name}.duckdb") as con:
            report = ingest(con, SOURCES["cases"], 2017, raw, units_csv, SALT)
            outcomes.append((report.rows_loaded, report.rows_rejected,
                             con.execute("select line_number, reason from raw.rejects order by 1").fetchall()))
    assert outcomes[0][1] > 0 and any("is not a configured unit" in r for _, r in outcomes[0][2])
    assert outcomes[1] == outcomes[0]


def test_a_year_in_another_folder_is_a_separate_partition(raw, load, warehouse):
    load("cases", 2016)
    load("cases", 2017)
    load("cases", 2016)
    counts = dict(query(warehouse, "select partition_year, count(*) from raw.cases group by 1"))
    assert set(counts) == {2016, 2017} and all(n > 1000 for n in counts.values())


BAD_FILES = {
    "unknown encoding": (lambda p: p.write_bytes("工单编号,受理时间\n".encode("utf-16")), "unknown encoding"),
    "undecodable bytes": (lambda p: p.write_bytes(b"\xff\xfe\xfa\xfb\x81\x30" * 50), "unknown encoding"),
    "missing column": (lambda p: write_hotline(p, TICKETS, headers=[c.header for c in HOTLINE.columns[:-2]]),
                       "missing required column(s) 办理状态, 满意度评价"),
    "a column named twice": (lambda p: write_hotline(p, TICKETS, headers=[c.header for c in HOTLINE.columns] + ["区县代码"]),
                             "the header names 区县代码 more than once"),
    "empty file": (lambda p: p.write_bytes(b""), "the file is empty"),
    "header only": (lambda p: write_hotline(p, []), "header but no data rows"),
    "not a table": (lambda p: p.write_text("This is a meeting note, not an export.\nSee you.\n"),
                    "the first line is not a header"),
    "binary": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "not a text table"),
}


@pytest.mark.parametrize("problem", list(BAD_FILES))
def test_an_unreadable_file_fails_the_partition_and_leaves_the_warehouse_as_it_was(raw, load, warehouse,
                                                                                   problem):
    load("hotline", 2018)
    before = hotline_rows(warehouse)
    make, message = BAD_FILES[problem]
    bad = raw / "hotline" / "2018" / "zz_bad.csv"
    make(bad)
    with pytest.raises(SourceFileError) as error:
        load("hotline", 2018)
    assert str(bad) in str(error.value) and message in str(error.value)
    assert hotline_rows(warehouse) == before
    assert query(warehouse, "select count(*) from raw.load_files where source_file like '%zz_bad%'") == [(0,)]


@pytest.mark.parametrize("shift", ["", "x", "xx"])
def test_an_unterminated_quote_before_chinese_text_names_the_file_line_and_reason(raw, load, warehouse, shift):
    # DuckDB quotes the line it fails on cut at 10,000 bytes: for one shift or another of the Chinese
    # text after the quote, the cut splits a character, and its Python client cannot decode the message.
    bad = write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS))
    with bad.open("a", encoding="utf-8") as file:
        file.write(f'T9,"{shift}{"反映推诿" * 1000}\n' + "".join(bad.read_text(encoding="utf-8-sig").splitlines(True)[1:]))
    with pytest.raises(SourceFileError) as error:
        load("hotline", 2014)
    message = str(error.value)
    assert str(bad) in message and "CSV Error on Line: 4" in message and "unterminated quote" in message
    assert "反映" not in message and "13912345678" not in message
    assert query(warehouse, "select count(*) from raw.load_files where source = 'hotline' and partition_year = 2014") \
        == [(0,)]


def open_slice_copies() -> list[str]:
    links = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return [link for link in links if "jingtu-ingest-slice" in link]


def test_a_load_that_fails_leaves_no_copy_in_memory_and_no_thread_reading(raw, load, warehouse):
    # The sample's months alternate UTF-8 and GB18030 (read through in-memory copies). The file without
    # rows fails once the next is staged, while the one after it, GB18030, is being read ahead.
    write_hotline(raw / "hotline" / "2018" / "12345_2018-04a.csv", [])
    assert sniff_encoding(raw / "hotline" / "2018" / "12345_2018-06.csv")[0] == "gb18030"
    with pytest.raises(SourceFileError, match=r"12345_2018-04a\.csv: the file has a header but no data rows") as error:
        load("hotline", 2018)
    # while the error, and the frames of the load it holds, are still there
    assert error.tb is not None and open_slice_copies() == []
    assert not [t for t in threading.enumerate() if t.name.startswith("jingtu-read-ahead")]


def test_a_reload_interrupted_midway_leaves_the_year_as_it_was(raw, load, warehouse, monkeypatch):
    """As a run terminated from the UI interrupts its step: an interrupt, not an error, once a file's
    rows are pending. The year keeps its rows, from the load that wrote them, and none stays pending."""
    def year() -> list:  # its rows, the loads they came from, its rejects and its files' records
        loads = "select partition_year, load_id, count(*) from {} group by all order by all"
        return [hotline_rows(warehouse), query(warehouse, loads.format("raw.hotline")),
                query(warehouse, loads.format("raw.rejects")), query(warehouse, "from raw.load_files order by all")]

    load("hotline", 2018)
    before = year()
    changed = raw / "hotline" / "2018" / "12345_2018-03.csv"
    changed.write_bytes(changed.read_bytes() + b"\n")  # the year is reloaded whole
    copy = PartitionLoader._copy_staged

    def copy_then_interrupt(self, *args):
        copy(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(PartitionLoader, "_copy_staged", copy_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        load("hotline", 2018)
    assert year() == before


def test_of_two_unreadable_files_the_first_is_named_though_the_second_was_read_ahead(raw, load):
    # The first is found wanting only once staged, the second as soon as it is opened, ahead of it.
    write_hotline(raw / "hotline" / "2018" / "12345_2018-04a.csv", [])
    (raw / "hotline" / "2018" / "12345_2018-04b.csv").write_bytes(b"")
    with pytest.raises(SourceFileError, match=r"12345_2018-04a\.csv: the file has a header but no data rows"):
        load("hotline", 2018)


def test_reading_ahead_makes_one_item_ahead_raises_its_errors_in_turn_and_releases_what_is_unused():
    made, released = [], []

    def items(count: int, failing: int | None = None):
        for i in range(count):
            if i == failing:
                raise ValueError(f"item {i} cannot be made")
            made.append(i)
            yield i

    with closing(ReadAhead(items(5), release=released.append)) as ahead:
        assert next(ahead) == 0
        deadline = time.monotonic() + 10
        while len(made) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert made == [0, 1]  # the next item, and no more
    assert released == [1]
    ahead = ReadAhead(items(3, failing=1), release=released.append)
    assert next(ahead) == 0
    with pytest.raises(ValueError, match="item 1 cannot be made"):
        next(ahead)
    assert list(ahead) == []
    ahead.close()
    assert released == [1]


def test_a_file_in_the_wrong_year_folder_fails_the_partition(raw, load, warehouse):
    load("cases", 2017)
    before = query(warehouse, "select count(*), min(load_id) from raw.cases")
    (raw / "cases" / "2017" / "cases_2017.csv").rename(raw / "cases" / "2017" / "cases_2016.csv")
    (raw / "cases" / "2016" / "cases_2016.csv").rename(raw / "cases" / "2017" / "cases_2016_misfiled.csv")
    with pytest.raises(SourceFileError, match=r"cases_2016_misfiled\.csv: in the wrong year folder: \d+ of \d+ "
                                              r"rows belong to other years \(mostly 2016\), not 2017"):
        load("cases", 2017)
    assert query(warehouse, "select count(*), min(load_id) from raw.cases") == before


def test_an_unsupported_file_type_fails_the_partition(raw, load):
    (raw / "surveys" / "2018" / "notes.txt").write_text("hello")
    with pytest.raises(SourceFileError, match=r"notes\.txt: unsupported file type '\.txt' \(expected \.csv\)"):
        load("surveys", 2018)


def test_a_year_without_files_loads_nothing_and_clears_the_partition(raw, load, warehouse):
    load("surveys", 2018)
    for path in (raw / "surveys" / "2018").iterdir():
        path.unlink()
    report = load("surveys", 2018)
    assert (report.files, report.rows_loaded) == ([], 0)
    assert query(warehouse, "select count(*) from raw.surveys") == [(0,)]


def test_a_file_loaded_before_and_gone_is_named_with_the_rows_its_removal_takes(raw, load, warehouse):
    load("hotline", 2018)
    months = sorted((raw / "hotline" / "2018").iterdir())
    months[1].unlink()
    name = months[1].relative_to(raw).as_posix()
    (rows,) = query(warehouse, f"select count(*) from raw.hotline where source_file = '{name}'")[0]
    with connect(warehouse) as con:
        assert files_gone(con, raw, [2018]) == [(name, rows)] and files_gone(con, raw, [2017]) == []
        assert files_gone(con, raw, [2018], "cases") == []
    report = load("hotline", 2018)
    assert report.files_gone == [(name, rows)] and rows > 0
    assert query(warehouse, f"select count(*) from raw.hotline where source_file = '{name}'") == [(0,)]
    assert load("hotline", 2018).files_gone == []  # said once: the next load finds nothing gone


def test_caller_phone_is_hashed_name_dropped_and_numbers_masked(raw, load, warehouse):
    write_hotline(raw / "hotline" / "2014" / "a.csv", in_2014(TICKETS))
    load("hotline", 2014)
    key, content = query(warehouse, "select caller_key, content from raw.hotline where ticket_id = 'T1'")[0]
    assert len(key) == 64 and "13912345678" not in key
    assert content == "反映推诿，回电[手机号]，身份证[身份证号]"
    assert query(warehouse, "select caller_key from raw.hotline where ticket_id = 'T2'") == [(None,)]


def test_what_duckdb_spills_to_disk_holds_no_personal_data_in_clear(tmp_path, monkeypatch):
    """DuckDB spills what does not fit in its memory to files beside the database, and a spilled block
    holds whatever its memory held before: lines of a raw file were found in them, in clear, during a
    hotline load under a small memory limit. The files are encrypted."""
    monkeypatch.setenv("JINGTU_DUCKDB_MEMORY_LIMIT", "30MB")
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("create temp table held as select '13912345678 欧阳明远 ' || i as line from range(3000000) as r(i)")
        spills = Path(con.execute("select current_setting('temp_directory')").fetchone()[0])
        spilled = [path.read_bytes() for path in spills.iterdir()]  # while the table is held
    assert sum(map(len, spilled)) > 16 * 2**20  # much of the table: what the limit leaves out of memory
    assert not any(personal_data_in(data, {"13912345678"}, ("欧阳明远",)) for data in spilled)


def test_no_caller_phone_or_name_from_raw_reaches_any_table(raw, load, warehouse):
    for source in SOURCES:
        for year in (2015, 2016, 2017, 2018):
            load(source, year)
    phones, names = raw_callers(raw)  # the personal data as it stands in the raw files
    personal = phones | names
    assert len(personal) > 1000
    with connect(warehouse) as con:
        con.execute("create temp table pii as select unnest($v) as v", {"v": sorted(personal)})
        columns = con.execute("""
            select table_schema, table_name, column_name from information_schema.columns
            where data_type in ('VARCHAR', 'JSON') and table_catalog <> 'temp'
        """).fetchall()
        assert len(columns) > 30
        for schema, table, column in columns:
            found = con.execute(f"""
                with texts as (select distinct "{column}"::varchar as text from {schema}.{table}),
                candidates as (  -- whole values (names) and every phone-like run inside them
                    select text as v from texts
                    union select unnest(regexp_extract_all(text, '1[3-9][0-9]{{9}}')) from texts
                )
                select count(*) from candidates join pii using (v)
            """).fetchone()[0]
            assert found == 0, f"{schema}.{table}.{column} holds raw personal data"
