"""`jingtu`: the one command a person runs by hand."""

import argparse
import contextlib
import functools
import io
import math
import os
import shutil
import signal
import sys
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, Self

from orchestration import cli_runs, quiet_notices, settings
from orchestration.lib.processes import exit_now, run_until_interrupted

# Progress lines stay readable: failures are summarised by report_failure, details are in `make ui`.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# a step in the progress lines, once done and while under way (an ingestion step is raw__<source>)
STEP_LABELS = {"raw_expectations": ("quality checks done", "running the quality checks"),
               "jingtu_dbt_models": ("dbt build done", "building the marts (dbt)"),
               "reports__county_portraits": ("portraits written", "writing the portraits"),
               "serving__bi_database": ("serving file published", "publishing the serving file")}
HEARTBEAT = 30  # seconds between the progress lines of a step under way
ERROR = 3  # exit status when something could not be read or run, as distinct from a finding (1, 2)
SIGPIPE_STATUS = 128 + signal.SIGPIPE  # a shell's status for a command killed by SIGPIPE


def _dagster_instance():
    """The project-local Dagster instance (runs show in `make ui`)."""
    from dagster import DagsterInstance

    home = settings.dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)  # in full: Dagster refuses a relative one with a traceback
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", config)
    instance = DagsterInstance.get()
    cli_runs.release_dead(instance)
    return instance


def cmd_generate(args) -> int:
    from orchestration.contracts import SOURCES
    from orchestration.sample import check_options, generate, plan

    out = Path(args.out)
    # --scale S: S× the units and S× the tickets (Sichuan is ~17× Leshan); explicit options win.
    scale = args.scale or 1.0
    hotline_scale = args.hotline_scale or scale
    try:
        check_options(hotline_scale, args.signals)
    except ValueError as error:
        print(f"jingtu generate: {error}; nothing was written", file=sys.stderr)
        return 2
    if any(out.glob("*/*")) and not args.force:
        print(f"{out} already holds data; pass --force to replace it", file=sys.stderr)
        return 2

    def remove_sample() -> None:
        for source in SOURCES:
            shutil.rmtree(out / source, ignore_errors=True)

    remove_sample()
    started = time.perf_counter()
    units = args.units or round(len(plan.UNITS) * scale)
    try:
        shifts = generate(out, seed=args.seed, unit_count=units, hotline_scale=hotline_scale, signals=args.signals)
    except OSError as error:  # a half-written sample would be taken for real data: none is left
        remove_sample()
        print(f"jingtu generate: cannot write {error.filename or out}: {error.strerror or error}; nothing was kept",
              file=sys.stderr)
        return ERROR
    print(f"sample data written to {out} in {time.perf_counter() - started:.1f} s"
          + (f", {len(shifts)} shifts planted" if shifts else ""))
    return 0


def cmd_materialize(args) -> int:
    available = settings.years_with_data(settings.raw_root())
    years = args.years or available
    if not years:
        print(f"no data under {settings.raw_root()}: run `jingtu generate` first", file=sys.stderr)
        return 2
    if empty := sorted(set(years) - set(available)):
        have = settings.span(available) if available else "none"
        print(f"no raw data for {', '.join(map(str, empty))} under {settings.raw_root()} (years with data: {have});"
              " nothing was materialised", file=sys.stderr)
        return 2
    if problem := (settings.locations_problem(settings.warehouse_path(), settings.units_file())
                   or settings.dagster_home_problem(settings.dagster_home())):
        print(f"cannot materialise: {problem}; nothing was materialised", file=sys.stderr)
        return ERROR
    if unknown := unknown_methodology(args.methodology):
        print(f"cannot materialise: {unknown}; nothing was materialised", file=sys.stderr)
        return 2
    for path, why in settings.unread_raw_paths(settings.raw_root()):
        print(f"note: {settings.not_read(path, why)}")
    from orchestration.lib.duck import check_settings

    check_settings()
    with one_materialize_at_a_time():
        return _materialize(args, years)


def _materialize(args, years: list[int]) -> int:
    from orchestration import inputs

    if settings.warehouse_path().exists():
        from orchestration.ingest import files_gone
        from orchestration.lib.duck import DatabaseUnavailable, open_checked

        try:
            with open_checked(settings.warehouse_path(), read_only=False) as con:
                gone = files_gone(con, settings.raw_root(), years)
        except DatabaseUnavailable as error:
            print(f"cannot materialise: {error}", file=sys.stderr)
            return ERROR
        for name, rows in gone:  # said before the run, which a person may still stop
            print(f"note: {name} was loaded ({rows:,} rows) and is no longer under raw/: this run removes its rows"
                  " from the warehouse")
    try:
        key = settings.pii_key()
    except settings.PiiKeyMissing as error:
        print(f"cannot materialise: {error}", file=sys.stderr)
        return ERROR
    if key == settings.DEV_PII_SALT:
        print("caller phones are hashed with the public development key: fine for the generated sample, which"
              " is all raw/ holds (real data needs JINGTU_PII_SALT)")
    current = inputs.fingerprint(years, args.methodology, key)
    since = None if args.force else inputs.since_last_run(current)
    if since and not since.changes:
        print(f"nothing new since the run that finished at {since.finished_at}: the same raw files, code, configuration"
              " and methodology, so the warehouse, the serving file and the portraits are up to date"
              " (--force runs anyway)")
        print_counts()
        print_grades(years)
        return 0
    from orchestration.dbt import prepare_manifest

    try:
        prepare_manifest()
    except RuntimeError as error:  # the dbt project does not parse: nothing has run
        print(f"cannot materialise: {error}", file=sys.stderr)
        return ERROR
    from orchestration.definitions import defs
    from orchestration.defs.automation import affected_by, yearly_job
    from orchestration.partitions import years_tags

    if args.methodology:  # read by dbt's macro methodology_version_of, in every step of these runs
        os.environ["JINGTU_METHODOLOGY_VERSION"] = args.methodology
    instance = _dagster_instance()
    # The cost follows the change: after a run with the same code and configuration, only the years
    # whose files changed, and only what reads those sources.
    changes = since.changes if since else None
    # One run for the years, following one another or not: ingestion, checks, one dbt build (the early
    # warnings of the years' months included), the portraits and the serving file.
    run_years = sorted(changes) if changes is not None else sorted(set(years))
    started = time.perf_counter()
    label = settings.span(run_years)
    selection = None
    if changes is not None:
        sources = sorted(set().union(*changes.values()))  # all that changed
        selection = affected_by(sources)
        changed = sorted(set().union(*(changes[year] for year in changes if year not in since.not_run)))
        reasons = [f"files changed: {', '.join(changed)}"] if changed else []
        if since.not_run:
            reasons.append("not run before" if since.not_run == run_years else f"{settings.span(since.not_run)} not run before")
        label += f" ({'; '.join(reasons)})"
    elif not args.force and (why := inputs.why_whole(current)):
        label += f" (whole: {why})"
    print(f"materialising {label} …", flush=True)
    run_tag = uuid.uuid4().hex
    tags = {**cli_runs.tags(run_tag), **years_tags(run_years)}
    progress = StepProgress(instance, run_tag, sys.stdout)
    job = defs.resolve_job_def(yearly_job.name)
    with progress, contextlib.redirect_stdout(log := io.StringIO()):  # dbt's log lines: shown on failure only
        result = run_until_interrupted(
            lambda: job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False,
                                           asset_selection=selection, tags=tags),
            lambda: interrupted(progress.running), functools.partial(cli_runs.end_interrupted, instance, run_tag))
    if not report_failure(result, log):
        return 1
    inputs.promote(result.run_id)  # what the run ran, as its last step recorded it
    print(f"  {label} done in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"published the marts to {settings.serving_path()} (read-only copy for BI tools)")
    print(f"county portraits: {settings.reports_dir() / 'index.html'} (open it in a browser)")
    print_counts()
    print_grades(years)
    return 0


def unknown_methodology(chosen: str | None) -> str | None:
    """Why the methodology version chosen (`--methodology`, else JINGTU_METHODOLOGY_VERSION) cannot be
    used, before a run that would ingest and check for minutes and then stop in dbt's validation."""
    from orchestration import methodology

    version = chosen or os.environ.get("JINGTU_METHODOLOGY_VERSION")
    known = [row["methodology_version"] for row in methodology.all_rows("methodology_versions")]
    if not version or version in known:
        return None
    where = "--methodology" if chosen else "JINGTU_METHODOLOGY_VERSION"
    return (f"{where} {version} is not a methodology version of dbt_project/seeds/methodology_versions.csv"
            f" ({', '.join(known)})")


@contextlib.contextmanager
def one_materialize_at_a_time() -> Iterator[None]:
    """One `jingtu materialize` at a time on a warehouse: another one waits for it to end, then finds
    what it left (often nothing new). Each step holds the warehouse only while it runs, so two runs'
    steps would otherwise take turns, doing the same work twice. The lock goes with the process,
    however it ends."""
    import fcntl

    path = settings.warehouse_path().with_name(settings.warehouse_path().name + ".materialize.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for the `jingtu materialize` in progress on {settings.warehouse_path()} to end …",
                  flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class StepProgress(threading.Thread):
    """Prints each step of a run as it succeeds, with its seconds, and every HEARTBEAT seconds while a
    step runs, how long it has run and, for an ingestion, the last file it read (a year of hotline
    exports takes minutes at the national scale): from the run's event log, read every second."""

    def __init__(self, instance, run_tag: str, out):
        super().__init__(name="jingtu-progress", daemon=True)
        self.instance, self.run_tag, self.out = instance, run_tag, out
        self.run_id, self.cursor, self.stopped, self.failed = None, None, threading.Event(), False
        self.running: dict | None = None  # the step under way: its key, when it started, its last message

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.join()
        if not self.failed:
            try:
                self.print_news()  # of the last second
            except BrokenPipeError:  # as in `run`: what follows the run (its record) still happens
                self.failed = True

    def run(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            while not self.stopped.wait(1.0):
                self.print_news()
        except SQLAlchemyError as error:  # Dagster's storage, busy: the run goes on, its outcome printed at the end
            print(f"  (no more progress lines: {error})", file=self.out, flush=True)
            self.failed = True
        except BrokenPipeError:  # nobody reads them any more: the run goes on (`run` ends the process quietly)
            self.failed = True

    def print_news(self) -> None:
        from dagster import DagsterEventType, RunsFilter

        if self.run_id is None:
            runs = self.instance.get_runs(filters=RunsFilter(tags={cli_runs.CLI_RUN_TAG: self.run_tag}), limit=1)
            if not runs:
                return
            self.run_id = runs[0].run_id
        found = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = found.cursor
        for record in found.records:
            entry = record.event_log_entry
            kind = entry.dagster_event.event_type if entry.dagster_event else None
            if kind == DagsterEventType.STEP_START:
                self.running = {"step": entry.step_key, "since": entry.timestamp, "said": entry.timestamp,
                                "message": ""}
            elif kind is None and self.running and entry.step_key == self.running["step"] and is_ingestion(entry.step_key):
                self.running["message"] = entry.user_message  # the loader's account of the files read
            elif kind == DagsterEventType.STEP_FAILURE:  # told with the run's outcome, when it ends
                self.running = None
            elif kind == DagsterEventType.STEP_SUCCESS:
                self.running = None
                seconds = entry.dagster_event.event_specific_data.duration_ms / 1000
                print(f"  {step_label(entry.step_key)} ({seconds:.1f} s)", file=self.out, flush=True)
        now = time.time()
        if self.running and now - self.running["said"] >= HEARTBEAT:
            self.running["said"] = now
            message = f": {self.running['message']}" if self.running["message"] else ""
            print(f"  … {step_label(self.running['step'], done=False)}, {now - self.running['since']:.0f} s so far"
                  f"{message}", file=self.out, flush=True)


def interrupted(running: dict | None) -> str:
    """What an interrupted run leaves (see `lib.processes.run_until_interrupted`)."""
    where = f" while {step_label(running['step'], done=False)}" if running else ""
    return (f"interrupted{where}: the run stops here. The serving file and the portraits are still the last"
            " completed run's; the next `jingtu materialize` does this run's work again (a load cut short is"
            " discarded, the marts rebuilt).")


def is_ingestion(step_key: str) -> bool:
    return step_key.startswith("raw__")


def step_label(step_key: str, done: bool = True) -> str:
    """How a step is named in the progress lines, once done or while under way."""
    if is_ingestion(step_key):
        source = step_key.removeprefix("raw__")
        return f"{source} ingested" if done else f"ingesting {source}"
    return STEP_LABELS[step_key][0 if done else 1] if step_key in STEP_LABELS else step_key


# What a run refreshes for its readers, by the step that does it: a failed run names what it left as it was.
READERS_STEPS = {"serving__bi_database": "the serving file BI tools read", "reports__county_portraits": "the portraits"}


def report_failure(result, log: io.StringIO) -> bool:
    """True when the run succeeded; otherwise print each failed check and step (after the end of
    dbt's log when dbt failed), where the checks' findings are shown, and what readers still see."""
    from orchestration.quality import report

    if result.success:
        return True
    if any(e.is_step_failure and "dbt" in e.step_key for e in result.all_events):
        print("\n".join(log.getvalue().splitlines()[-40:]), file=sys.stderr)
    checks_failed = False
    for event in result.all_events:
        evaluation = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if evaluation is not None and not evaluation.passed:
            checks_failed = True
            print(f"  CHECK FAILED {evaluation.asset_check_key.to_user_string()}: {evaluation.description}",
                  file=sys.stderr)
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data:
                message = data.user_failure_data.description
            elif _is_check_failure(data.error):  # Dagster's words end on a colon, its list on other lines
                message = "a blocking check failed (above): nothing that reads the data it checks was built"
            else:
                message = _causes(data.error)
            print(f"  FAILED {event.step_key}: {message.strip()}", file=sys.stderr)
    if checks_failed:
        print(f"  what the checks found, with examples: {report.page_path()}", file=sys.stderr)
    refreshed = {e.step_key for e in result.all_events if e.is_step_success}
    if unchanged := [what for step, what in READERS_STEPS.items() if step not in refreshed]:
        print(f"  {' and '.join(unchanged)} are still the last completed run's", file=sys.stderr)
    return False


def _is_check_failure(error) -> bool:
    while error is not None:
        if error.cls_name == "DagsterAssetCheckFailedError":
            return True
        error = error.cause or error.context
    return False


def _causes(error) -> str:
    """An unexpected error with what caused it ("Error occurred while executing op …" says nothing of
    the cause), a damaged warehouse named as such."""
    from orchestration.lib.duck import explain_open_error, says_damaged

    messages = []
    while error is not None:
        messages.append(error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name)
        error = error.cause or error.context
    damaged = [m for m in messages if says_damaged(m)]
    if damaged:
        return explain_open_error(settings.warehouse_path(), Exception(damaged[0]))
    return " ← ".join(messages)


def cmd_alerts(args) -> int:
    """Print a month's early warnings from the published serving file; exit 1 when any is red, so that
    it can drive a notification, and ERROR (never 1) when the alerts cannot be read."""
    from orchestration.alert_evidence import EVIDENCE_COLUMNS, describe
    from orchestration.lib.duck import has_mart

    try:
        month = time.strptime(args.month, "%Y-%m")
    except ValueError:
        print(f"--month {args.month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    first_day = f"{month.tm_year}-{month.tm_mon:02d}-01"
    if (con := _open_to_read(settings.serving_path(), "cannot read the alerts",
                             " (`jingtu publish` publishes the warehouse's marts)")) is None:
        return ERROR
    with con:
        monitored = has_mart(con, "fct_early_warnings")
        if monitored:
            (months,) = con.execute("select count(*) from marts.fct_monitoring_monthly where month = $m",
                                    {"m": first_day}).fetchone()
        if not monitored or not months:
            print(f"{args.month} has not been monitored: materialise it first (jingtu materialize)",
                  file=sys.stderr)
            return 2
        if args.county and not con.execute("select count(*) from marts.fct_monitoring_monthly"
                                           " where month = $m and county_code = $c",
                                           {"m": first_day, "c": args.county}).fetchone()[0]:
            # "no alerts" would reassure about a unit nobody monitors (a code mistyped)
            print(f"--county {args.county}: no such unit was monitored in {args.month} (county codes: marts.dim_county)",
                  file=sys.stderr)
            return 2
        table = "marts.fct_early_warnings_all_versions" if args.rules else "marts.fct_early_warnings"
        if args.rules and not con.execute(f"select count(*) from {table} where methodology_version = $v",
                                          {"v": args.rules}).fetchone()[0]:
            known = [v for (v,) in con.execute(f"select distinct methodology_version from {table} order by 1").fetchall()]
            print(f"--rules {args.rules}: no alerts under that version (versions with alerts: {', '.join(known)})",
                  file=sys.stderr)
            return 2
        found = con.execute(f"""
            select county_code, county_name, signal_label_zh, methodology_version, {', '.join(EVIDENCE_COLUMNS)}
            from {table}
            where month = $m and ($county is null or county_code = $county)
              and ($rules is null or methodology_version = $rules)
            order by severity_order desc, county_code, signal
        """, {"m": first_day, "county": args.county, "rules": args.rules})
        names = [d[0] for d in found.description]
        alerts = [dict(zip(names, row)) for row in found.fetchall()]
        version = args.rules or con.execute("select any_value(methodology_version) from marts.fct_early_warnings"
                                            ).fetchone()[0]
    heading = f"{args.month}, methodology {version or '?'}"
    if not alerts:
        print(f"{heading}: no alerts" + (f" for {args.county}" if args.county else ""))
        return 0
    print(f"{heading} ({alerts[0]['rule_set']} rules):")
    for alert in alerts:
        print(f"  {alert['severity']}  {alert['county_code']} {pad(alert['county_name'], 15)} "
              f"{pad(alert['signal_label_zh'], 26)} {describe(alert)}")
    return 1 if any(a["severity"] == "红" for a in alerts) else 0


def cmd_report(args) -> int:
    """Write the county portraits of the given years (default: every evaluated year) and the index."""
    from orchestration import portrait
    from orchestration.lib.duck import has_mart

    if (con := _open_to_read(settings.warehouse_path(), "cannot read the warehouse")) is None:
        return ERROR
    out = settings.reports_dir()
    with con:
        if not has_mart(con, "fct_county_evaluation"):
            print(f"{settings.warehouse_path()} holds no evaluation yet: run `jingtu materialize` first", file=sys.stderr)
            return 2
        evaluated = portrait.evaluated_years(con)
        years = args.year or evaluated
        if missing := sorted(set(years) - set(evaluated)):  # refused before any page is written
            print(f"{portrait.no_evaluation(missing)}; no page was written", file=sys.stderr)
            return 2
        pages = [portrait.render_year(con, year, out) for year in years]
        index = portrait.render_index(con, out)
    for page in pages:
        print(f"county portraits: {page}")
    print(f"index of every year: {index}")
    return 0


def cmd_restatements(args) -> int:
    """Print the restated grades (published beside restated, the change by indicator, the files that
    changed), read from the serving file."""
    from orchestration.lib.duck import has_mart

    if (con := _open_to_read(settings.serving_path(), "cannot read the restatements")) is None:
        return ERROR
    with con:
        if not has_mart(con, "fct_restatements"):
            print("no restatement table yet: materialise and publish first (jingtu materialize)", file=sys.stderr)
            return 2
        found = con.execute("""
            select r.year, r.county_code, c.county_name, r.published_grade, r.restated_grade, r.published_composite,
                   r.restated_composite, r.composite_change, r.indicator_changes, r.changed_files,
                   strftime(r.published_at, '%Y-%m-%d %H:%M'), strftime(r.restated_at, '%Y-%m-%d %H:%M')
            from marts.fct_restatements r left join marts.dim_county c using (county_code)
            where $year is null or r.year = $year
            order by r.year, r.restated_at, r.county_code""", {"year": args.year}).fetchall()
        never_published = args.year is not None and not found and not con.execute(
            "select count(*) from marts.fct_county_evaluation_published where year = $year", {"year": args.year}
        ).fetchone()[0]
    if never_published:  # nothing to restate, which is not "every grade stands"
        print(f"{args.year} has no published grades: materialise it first (jingtu materialize {args.year})",
              file=sys.stderr)
        return 2
    if not found:
        print("no restatement" + (f" of {args.year}" if args.year else "") + ": every published grade stands")
        return 0
    for (year, code, name, was, now, composite_was, composite_now, change, indicators, files, published,
         restated) in found:
        print(f"{year} {code} {name}: {was} → {now}, composite {fmt(composite_was)} → {fmt(composite_now)}"
              f" ({'' if change is None else signed(change)}); published {published}, restated {restated}")
        moved = sorted((i for i in indicators or [] if i["contribution"]), key=lambda i: -abs(i["contribution"]))
        if moved:
            print("    by indicator: " + ", ".join(f"{i['indicator']} {signed(i['contribution'])}" for i in moved))
        print("    changed files: " + (", ".join(files) if files else "none"))
    return 0


def cmd_audit(args) -> int:
    """What a published grade came from (`orchestration.audit`): its methodology version and each raw
    file of its year as published, with the rows rejected from it. Read from the warehouse, which holds
    the raw layer."""
    from orchestration.audit import AUDIT_SQL
    from orchestration.lib import pii
    from orchestration.lib.duck import has_mart

    if (con := _open_to_read(settings.warehouse_path(), "cannot audit")) is None:
        return ERROR
    with con:
        if not has_mart(con, "fct_county_evaluation_published"):
            print("no published grade yet: materialise first (jingtu materialize)", file=sys.stderr)
            return 2
        result = con.execute(AUDIT_SQL, {"year": args.year, "county": args.county})
        names = [d[0] for d in result.description]
        files = [dict(zip(names, row)) for row in result.fetchall()]
        current_loads = dict(con.execute("select source_file, load_id from raw.load_files where partition_year = $year",
                                         {"year": args.year}).fetchall())
        name = con.execute("select any_value(county_name) from marts.dim_county where county_code = $county",
                           {"county": args.county}).fetchone()[0]
        restated = con.execute(
            "select restated_grade, restated_composite, restated_at from marts.fct_restatements"
            " where year = $year and county_code = $county order by restated_at desc limit 1",
            {"year": args.year, "county": args.county}).fetchone() if has_mart(con, "fct_restatements") else None
    if not files:
        print(f"{args.county} has no published grade for {args.year}", file=sys.stderr)
        return 2
    first = files[0]
    print(f"{first['year']} {first['county_code']} {name or ''}: {first['grade'] or '—'}, composite {fmt(first['composite'])},"
          f" methodology {first['methodology_version']}, published {first['published_at']:%Y-%m-%d %H:%M}")
    if restated:
        grade, composite, restated_at = restated
        published = first["composite"]
        change = "" if composite is None or published is None else f" ({signed(composite - published)})"
        print(f"  restated {restated_at:%Y-%m-%d %H:%M}: {grade or '—'}, composite {fmt(composite)}{change}"
              " (jingtu restatements)")
    for file in files:
        print(f"  {file['path']}: {file['bytes']:,} bytes, sha256 {file['sha256']}, load {file['load_id']},"
              f" {file['rows_loaded']:,} rows loaded, {file['rows_rejected']:,} rejected")
        if file["path"] not in current_loads:
            print("    no longer under raw/ since publication: its rows were removed (jingtu restatements)")
            continue
        if file["load_id"] != current_loads[file["path"]]:
            print("    re-delivered since publication and reloaded: the rows rejected from the published version"
                  " went with its load (jingtu restatements)")
            continue
        rejected = file["rejected_rows"] or []
        for row in rejected[:args.rejects]:  # masked again: a warehouse loaded before reasons were masked
            print(f"    line {row['line']}: {pii.mask(row['reason'])}")
        if len(rejected) > args.rejects:
            print(f"    … {len(rejected) - args.rejects:,} more (--rejects {len(rejected)} shows them all)")
    return 0


def fmt(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def signed(change: float) -> str:
    """A change with its sign, to two decimals, or to its first two significant digits when smaller:
    +0.000058, where +0.00 would read as no change at all."""
    if change == 0 or abs(change) >= 0.005:
        return f"{change:+.2f}"
    return f"{change:+.{1 - math.floor(math.log10(abs(change)))}f}"


def print_grades(years: list[int]) -> None:
    """Each year's grade table, from marts.fct_county_evaluation, headed by the methodology version that
    graded it, with each grade's probability (marts.fct_grade_confidence); a near-boundary grade is
    marked `?`."""
    with _reading_the_warehouse("grades") as con:
        if con is None:
            return
        # Literals, not parameters: DuckDB's Python client imports pandas for a process's first query with
        # parameters, which a run with nothing new would wait for.
        rows = con.execute(f"""
            select e.year, e.county_code, c.county_name, e.composite, e.grade, e.consequence, e.rank,
                   e.is_veto_cap_applied, e.missing_indicators, g.p_published_grade, g.is_near_boundary,
                   string_agg(distinct e.methodology_version, ', ' order by e.methodology_version)
                       over (partition by e.year) as versions
            from marts.fct_county_evaluation e join marts.dim_county c using (county_code)
            left join marts.fct_grade_confidence g using (year, county_code)
            where e.year in ({", ".join(str(int(year)) for year in years)})
            order by e.year, e.rank nulls last, e.county_code
        """).fetchall()
    current = None
    for year, code, name, composite, grade, consequence, rank, capped, missing, p_grade, near, versions in rows:
        if year != current:
            current = year
            print(f"\n{year}  {pad('unit', 22)} {'composite':>9}  {pad('grade', 6)} {'P(grade)':>8}  "
                  f"{pad('consequence', 11)}  rank  methodology {versions}")
        shown = f"{composite:9.2f}" if composite is not None else f"{'—':>9}"
        confidence = f"{p_grade:7.2f}{'?' if near else ' '}" if p_grade is not None else f"{'—':>7} "
        note = " (一票否决 cap)" if capped else (f" (missing: {missing})" if missing else "")
        print(f"      {code} {pad(name, 15)} {shown}  {pad(grade, 6)} {confidence}  {pad(consequence or '—', 11)}  "
              f"{rank or '—':>4}{note}")
    if any(near for *_, near, _ in rows):
        print("\n? near a boundary: the grade has less than an 80 % chance under the data's sampling error"
              " and the weights' uncertainty (marts.fct_grade_confidence)")


def pad(text: str, width: int) -> str:
    """Left-align `text` in `width` terminal columns; Chinese characters take two."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def _open_to_read(database: Path, cannot: str, hint: str = ""):
    """`database` open for reading, or None after saying on stderr why not (`cannot`: what could not be
    done, e.g. "cannot audit"; `hint`: what to do about it)."""
    from orchestration.lib.duck import DatabaseUnavailable, open_checked

    try:
        return open_checked(database, read_only=True)
    except DatabaseUnavailable as error:
        print(f"{cannot}: {error}{hint}", file=sys.stderr)
        return None


@contextlib.contextmanager
def _reading_the_warehouse(what: str):
    """The warehouse open for reading, or None after saying why `what` cannot be shown (another
    process writing it, a Dagster run launched from the UI for one)."""
    from orchestration.lib.duck import DatabaseUnavailable, open_checked

    try:
        con = open_checked(settings.warehouse_path(), read_only=True)
    except DatabaseUnavailable as error:
        print(f"\n(no {what} shown: {error})")
        yield None
        return
    with con:
        yield con


def print_counts() -> None:
    """Loaded and rejected rows per source and year, from the warehouse."""
    with _reading_the_warehouse("counts") as con:
        if con is None:
            return
        rows = con.execute("""
            select source, partition_year, count(*) as files, sum(rows_loaded), sum(rows_rejected)
            from raw.load_files group by all order by all
        """).fetchall()
        ignored = con.execute("select source_file, ignored_columns from raw.load_files"
                              " where len(ignored_columns) > 0 order by all").fetchall()
    print(f"\n{'source':<12} {'year':>4} {'files':>5} {'loaded':>9} {'rejected':>8}")
    for source, year, files, loaded, rejected in rows:
        print(f"{source:<12} {year:>4} {files:>5} {loaded:>9,} {rejected:>8,}")
    for source_file, columns in ignored:
        print(f"note: {source_file}: column(s) {', '.join(columns)} are not in the contract and were not loaded")
    print(f"\nwarehouse: {settings.warehouse_path()}")


def cmd_backfill(args) -> int:
    if args.last < args.first:
        print(f"backfill {args.first} {args.last}: the last year comes before the first", file=sys.stderr)
        return 2
    return cmd_materialize(argparse.Namespace(years=list(range(args.first, args.last + 1)), methodology=None,
                                              force=False))


def cmd_publish(args) -> int:
    from orchestration.lib.duck import DatabaseUnavailable
    from orchestration.serving import NothingToPublish, publish

    try:
        counts = publish(settings.warehouse_path(), settings.serving_path())
    except (DatabaseUnavailable, NothingToPublish) as error:
        print(f"cannot publish: {error}; {settings.serving_path()} is left as it was (`jingtu materialize`"
              " builds the marts and publishes them)", file=sys.stderr)
        return ERROR
    from orchestration import inputs

    inputs.note_publication()
    print(f"published {len(counts)} tables to {settings.serving_path()}")
    return 0


def cmd_suites(args) -> int:
    from orchestration.quality.suites import write_suites

    paths = write_suites()
    print(f"wrote {len(paths)} Great Expectations suites to {paths[0].parent}")
    return 0


def cmd_docs(args) -> int:
    from orchestration import loader_doc, methodology_doc

    for path in methodology_doc.write():
        print(f"rewrote the generated parts of {path.relative_to(settings.PROJECT_ROOT)}")
    for path in loader_doc.write():
        print(f"rewrote {path.relative_to(settings.PROJECT_ROOT)}")
    return 0


def cmd_site(args) -> int:
    """Write the documentation pages that open offline, and print where they are."""
    from orchestration.docs_site import write_dbt_docs
    from orchestration.lib.duck import check_settings
    from orchestration.quality import report

    check_settings()  # dbt's DuckDB would refuse them with no word of where they came from
    if not report.page_path().exists():  # first: a folder that cannot be made is said before dbt's seconds
        report.record([], None, "none")
    print("writing the dbt docs (dbt parses the project: seconds) …", flush=True)
    try:
        dbt_docs = write_dbt_docs()
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return ERROR
    print(f"dbt docs (models, columns, lineage): {dbt_docs}")
    print(f"data quality (the latest check of each suite and year): {report.page_path()}")
    portraits = settings.reports_dir() / "index.html"
    print(f"county portraits: {portraits if portraits.exists() else 'none yet (`jingtu materialize` writes them)'}")
    print(f"the method: {settings.PROJECT_ROOT / 'docs' / 'methodology.md'}")
    return 0


def cmd_run(args) -> int:
    raw = settings.raw_root()
    if not settings.years_with_data(raw):
        print(f"{raw} is empty: generating the sample data", flush=True)
        status = cmd_generate(argparse.Namespace(out=str(raw), seed=args.seed, units=None,
                                                 hotline_scale=None, scale=None, force=False,
                                                 signals="report"))
        if status:
            return status
    return cmd_materialize(argparse.Namespace(years=None, methodology=None, force=False))


def positive(kind):
    """An argparse type: a number of `kind` above 0 (0 units or tickets fell back to the defaults or wrote none)."""
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value
    parse.__name__ = kind.__name__  # argparse's message names the type
    return parse


def argument_parser() -> argparse.ArgumentParser:
    """`jingtu`'s commands and options (the README's table of commands names each of them)."""

    parser = argparse.ArgumentParser(prog="jingtu", description="Jingtu (净土) data warehouse")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="generate the sample if raw/ is empty, materialise every year")
    run.add_argument("--seed", type=int, default=settings.SAMPLE_SEED,
                     help=f"the seed of the sample written when raw/ is empty (default {settings.SAMPLE_SEED})")
    run.set_defaults(handler=cmd_run)

    gen = commands.add_parser("generate", help="write the deterministic sample data into raw/")
    gen.add_argument("--out", metavar="DIR", default=str(settings.raw_root()),
                     help="where to write it (default: the landing zone, JINGTU_RAW or raw/)")
    gen.add_argument("--seed", type=int, default=settings.SAMPLE_SEED,
                     help=f"the same seed writes the same bytes (default {settings.SAMPLE_SEED})")
    gen.add_argument("--units", type=positive(int), default=None, help="number of units (default: Leshan's 11)")
    gen.add_argument("--hotline-scale", type=positive(float), default=None,
                     help="multiply the hotline tickets per year (1.0 ≈ 428,000 in 2018)")
    gen.add_argument("--scale", type=positive(float), default=None,
                     help="shorthand: units ×S (unless --units) and hotline tickets ×S, for benchmarks")
    gen.add_argument("--signals", choices=("report", "off", "shifts"), default="report",
                     help="report: the report's sample and its planted alerts; off: a monitoring scenario with no"
                          " signal (every alert a false alarm); shifts: the same with shifts of known size planted")
    gen.add_argument("--force", action="store_true", help="replace existing data")
    gen.set_defaults(handler=cmd_generate)

    mat = commands.add_parser("materialize", help="materialise years (default: every year with data)")
    mat.add_argument("years", nargs="*", type=int, metavar="YEAR", help="e.g. 2017 2018 (default: every year with data)")
    mat.add_argument("--methodology", metavar="VERSION",
                     help="grade these years under this methodology version (e.g. 2018.1, to reproduce what was"
                          " published under it) instead of the configured one")
    mat.add_argument("--force", action="store_true",
                     help="run even when nothing changed since the last run (raw files, code, configuration)")
    mat.set_defaults(handler=cmd_materialize)

    backfill = commands.add_parser("backfill", help="materialise the years FIRST … LAST in one run (materialize"
                                                    " with every year between them)")
    backfill.add_argument("first", type=int, help="the first year, e.g. 2015")
    backfill.add_argument("last", type=int, help="the last year, included")
    backfill.set_defaults(handler=cmd_backfill)

    publish = commands.add_parser("publish", help="copy the marts to the read-only serving file for BI tools")
    publish.set_defaults(handler=cmd_publish)

    suites = commands.add_parser("suites", help="write expectations/*.json (the quality suites) from the contracts")
    suites.set_defaults(handler=cmd_suites)

    docs = commands.add_parser("docs", help="rewrite docs/methodology.md's tables and the marts' indicator columns from the configuration,"
                                            " and the loader's SQL in docs/loader/ from the contracts")
    docs.set_defaults(handler=cmd_docs)

    site = commands.add_parser("site", help="write the documentation pages that open offline (dbt docs, data"
                                            " quality) and print where they are")
    site.set_defaults(handler=cmd_site)

    report = commands.add_parser("report", help="write the county portraits (HTML, one page per year) and print"
                                                " where they are")
    report.add_argument("--year", type=int, action="append", help="a year (repeatable; default: every evaluated year)")
    report.set_defaults(handler=cmd_report)

    restatements = commands.add_parser("restatements", help="published grades that re-delivered raw files changed,"
                                                            " beside what was published")
    restatements.add_argument("--year", type=int, help="that year's only (default: every year)")
    restatements.set_defaults(handler=cmd_restatements)

    audit = commands.add_parser("audit", help="what a published grade came from: its methodology version and each"
                                              " raw file as published, with the rows rejected from it")
    audit.add_argument("--year", type=int, required=True, help="e.g. 2017")
    audit.add_argument("--county", required=True, help="a county code, e.g. 511111")
    audit.add_argument("--rejects", type=positive(int), default=20, metavar="N",
                       help="rejected rows shown per file (default 20)")
    audit.set_defaults(handler=cmd_audit)

    alerts = commands.add_parser("alerts", help="a month's early warnings from the serving file; exit status 1"
                                                " if any is red, 2 if the month is not monitored, 3 on error")
    alerts.add_argument("--month", required=True, help="YYYY-MM")
    alerts.add_argument("--county", help="a county code, e.g. 511123")
    alerts.add_argument("--rules", metavar="VERSION",
                        help="the alerts of another methodology version's rules, e.g. 2018.1 (threshold rules)")
    alerts.set_defaults(handler=cmd_alerts)
    return parser


# Library notices a person running `jingtu` can do nothing about: the project's choices, made knowingly.
def main(argv: list[str] | None = None) -> int:
    quiet_notices()  # again: a caller may have reset the warning filters
    args = argument_parser().parse_args(argv)
    try:
        return args.handler(args)
    except settings.SettingInvalid as error:
        print(f"jingtu {args.command}: {error}", file=sys.stderr)
        return ERROR
    except BrokenPipeError:
        raise  # the reader went away: `run` ends quietly
    except OSError as error:  # a folder that cannot be made, a file that cannot be written: named, no traceback
        paths = " → ".join(str(path) for path in (error.filename, error.filename2) if path)
        print(f"jingtu {args.command}: {paths + ': ' if paths else ''}{error.strerror or error}", file=sys.stderr)
        return ERROR


def run() -> NoReturn:
    """The `jingtu` console script. When what reads its output goes away (`jingtu materialize | head`),
    it stops as a Unix tool killed by SIGPIPE would: quietly, with status 141 (Python ignores the signal
    and raises BrokenPipeError at the next write instead)."""
    try:
        status = main()
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run's: `run_until_interrupted`)
        print("interrupted", file=sys.stderr)
        status = 128 + signal.SIGINT
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
        status = SIGPIPE_STATUS
    exit_now(status)


if __name__ == "__main__":
    run()
