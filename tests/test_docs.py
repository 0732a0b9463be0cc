"""The docs travel with the code: docs/methodology.md's tables are generated from the configuration,
docs/loader/ from the contracts, and the README names every environment variable the project reads,
every `make` target and every `jingtu` command and option."""

import argparse
import os
import re
import shutil

from orchestration import loader_doc, methodology, methodology_doc
from orchestration.contracts import SOURCES
from orchestration.ingest import ingest
from orchestration.lib.duck import connect, sql_literal
from orchestration.settings import PROJECT_ROOT
from tests.conftest import SALT, UNITS_CSV, write_source
from tests.test_ingest import TICKETS


def test_the_generated_docs_are_those_the_configuration_writes():
    text = methodology_doc.DOC.read_text(encoding="utf-8")
    assert methodology_doc.render(text) == text, "docs/methodology.md is stale: run `jingtu docs`"
    assert text.count("<!-- generated: ") == len(methodology_doc.TABLES)
    for path in methodology_doc.YAML_DOCS:
        text = path.read_text(encoding="utf-8")
        assert "# generated: indicator_column" in text and methodology_doc.render(text) == text, \
            f"{path.name} is stale: run `jingtu docs`"


def test_a_changed_weight_shows_in_the_generated_tables(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    shutil.copytree(methodology.SEEDS, seeds)
    path = seeds / "methodology_indicators.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("development,0.20", "development,0.30"),
                    encoding="utf-8")
    monkeypatch.setattr(methodology, "SEEDS", seeds)
    rendered = methodology_doc.render(methodology_doc.DOC.read_text(encoding="utf-8"))
    assert "| development | 经济社会发展 | 0.30 |" in rendered


def test_a_changed_dbt_var_is_read_again_in_the_same_process(tmp_path, monkeypatch):
    """The dbt vars are parsed once per change of dbt_project.yml, not once per question (the sample
    generator asks for every unit and year): an edit is seen at the next question."""
    project = tmp_path / "dbt_project" / "dbt_project.yml"
    project.parent.mkdir()
    text = (PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8")
    project.write_text(text, encoding="utf-8")
    monkeypatch.setattr(methodology, "PROJECT_ROOT", tmp_path)
    version = methodology.default_version()
    parsed = methodology._variables_of.cache_info().misses
    assert version and methodology.variables()["methodology_version"] == version
    assert methodology._variables_of.cache_info().misses == parsed  # asked again, not parsed again
    project.write_text(text.replace(f"methodology_version: \"{version}\"", "methodology_version: v-edited"),
                       encoding="utf-8")
    os.utime(project, ns=(0, project.stat().st_mtime_ns + 1))  # an edit within the clock's resolution too
    assert methodology.default_version() == "v-edited"


def test_docs_loader_holds_the_statement_the_contracts_make_for_each_source_and_format():
    texts = loader_doc.render()
    assert set(loader_doc.FOLDER.glob("*.sql")) == set(texts), "docs/loader/ is stale: run `jingtu docs`"
    for path, text in texts.items():
        assert path.read_text(encoding="utf-8") == text, f"docs/loader/{path.name} is stale: run `jingtu docs`"
    assert len(texts) == sum(len(contract.formats) for contract in SOURCES.values())


def test_the_documented_statement_is_the_one_a_load_runs(tmp_path):
    """Regression guard for the docs: the loader stages a file with the statement docs/loader/ shows,
    its file's path aside, and with no other."""
    raw = tmp_path / "raw"
    path = write_source(raw / "hotline" / str(loader_doc.YEAR) / "12345_2018-05.csv", "hotline", TICKETS,
                        encoding="utf-8")
    executed = []

    class Recording:  # the connection, each statement noted
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args, **kwargs):
            executed.append(sql)
            return self.con.execute(sql, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.con, name)

    with connect(tmp_path / "w.duckdb") as con:
        assert ingest(Recording(con), SOURCES["hotline"], loader_doc.YEAR, raw, UNITS_CSV, SALT).rows_loaded == 2
    staged = [sql for sql in executed if sql.startswith("insert into temp.main.hotline_checked")]
    documented = (loader_doc.FOLDER / "hotline.csv.sql").read_text(encoding="utf-8").split("\n\n", 1)[1]
    example = loader_doc.EXAMPLE.format(source="hotline", year=loader_doc.YEAR, file_format="csv")
    assert staged == [documented.replace(sql_literal(example), sql_literal(str(path)))]


def test_every_enum_code_has_exactly_the_labels_its_contract_allows():
    """enum_codes.csv codes the labels of each enum column (macro enum_code in the staging models): a
    label the contract allows but the seed lacks would become a null code; one the seed has but the
    contract refuses is dead."""
    import csv

    from orchestration.contracts import SOURCES

    seeds = PROJECT_ROOT / "dbt_project" / "seeds" / "enum_codes.csv"
    with seeds.open(encoding="utf-8") as f:
        labels: dict[str, set[str]] = {}
        for row in csv.DictReader(f):
            labels.setdefault(row["field"], set()).add(row["label_zh"])
    used = {}
    for model in (PROJECT_ROOT / "dbt_project" / "models" / "staging").glob("stg_*__*.sql"):
        source = model.stem.split("_", 1)[1].split("__")[0]
        for field, column in re.findall(r"enum_code\('(\w+)', '(?:\w+\.)?(\w+)'\)", model.read_text()):
            used[field] = (source, column)
    assert used.keys() == labels.keys()
    for field, (source, column) in used.items():
        allowed = next(c for c in SOURCES[source].columns if c.name == column).values
        assert set(allowed) == labels[field], (field, source, column)


def test_every_environment_variable_the_project_reads_is_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    read = set()
    for folder, pattern in (("orchestration", "**/*.py"), ("dbt_project", "**/*.yml"), ("dbt_project", "**/*.sql")):
        for path in (PROJECT_ROOT / folder).glob(pattern):
            if "target" not in path.relative_to(PROJECT_ROOT).parts:
                read |= set(re.findall(r"\bJINGTU_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert "JINGTU_WAREHOUSE" in read
    assert sorted(name for name in read if f"`{name}`" not in readme) == []


def test_every_jingtu_command_and_option_has_help_and_the_readme_names_them():
    """`jingtu <command> --help` explains every argument, and the README's table of commands has a row
    for each command whose first cell names every option."""
    from orchestration.cli import argument_parser

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands = next(a for a in argument_parser()._actions if isinstance(a, argparse._SubParsersAction))
    described = {action.dest: action.help for action in commands._choices_actions}
    problems = []
    for name, command in commands.choices.items():
        cells = [line.split(" | ")[0] for line in readme if line.startswith("| ") and f"`jingtu {name}" in line.split(" | ")[0]]
        if not described.get(name):
            problems.append(f"jingtu {name}: no help")
        if not cells:
            problems.append(f"jingtu {name}: no row in the README's table of commands")
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                problems.append(f"jingtu {name} {'/'.join(action.option_strings) or action.dest}: no help")
            problems += [f"jingtu {name} {option}: not in the README's row" for option in action.option_strings
                         if cells and not any(re.search(rf"(?<![\w-]){option}(?![\w-])", cell) for cell in cells)]
    assert problems == []


def test_every_make_command_says_what_it_does_and_the_readme_names_it():
    """The Makefile's commands (its phony targets) each with a `##` line saying what it does, and a row
    in the README."""
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE).group(1).split()
    assert {"run", "test"} <= set(commands)
    assert [name for name in commands if not re.search(rf"^{name}:.*##", makefile, re.MULTILINE)] == []
    assert [name for name in commands if not re.search(rf"`make {name}[` ]", readme)] == []
