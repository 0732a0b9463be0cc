"""Text generated from the configuration (the dbt seeds and vars), so that it cannot drift: the tables
of docs/methodology.md and the indicator columns' docs and tests in the marts' YAML. `jingtu docs`
rewrites what lies between the markers; a test fails when a committed file differs from what this
module writes."""

import re
from pathlib import Path

from orchestration import methodology
from orchestration.settings import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "methodology.md"
MODELS = PROJECT_ROOT / "dbt_project" / "models"
YAML_DOCS = (MODELS / "marts" / "_marts.yml", MODELS / "publications" / "_publications.yml")
MARKER = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end -->)", re.DOTALL)
YAML_MARKER = re.compile(r"^( *)(# generated: (\w+)\b.*?\n).*?^(\1# end)$", re.DOTALL | re.MULTILINE)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _indicators() -> str:
    components = methodology.rows("methodology_components")
    return _table(["indicator", "中文", "weight", "components (weight inside the indicator, sampling error)"], [
        [i["indicator"], i["label_zh"], i["weight"],
         ", ".join(f"`{c['component']}` ({c['weight']}, {c['sampling_error']})" for c in components
                   if c["indicator"] == i["indicator"])]
        for i in sorted(methodology.rows("methodology_indicators"), key=lambda i: int(i["display_order"]))])


def _grades() -> str:
    return _table(["grade", "English", "composite at least", "consequence"], [
        [g["grade"], g["grade_en"], g["min_composite"], f"{g['consequence']} {g['consequence_en']}".strip() or "—"]
        for g in methodology.rows("methodology_grades")])


def _survey_points() -> str:
    return _table(["answer", "points"], [[p["answer"], p["points"] or "excluded"] for p in methodology.rows("survey_points")])


VERSIONED = ("methodology_indicators", "methodology_components", "methodology_grades", "survey_points",
             "warning_rules", "warning_parameters")


def _versions() -> str:
    """Each version, and which of its tables differ from the version in force."""
    default = methodology.default_version()

    def differs(version: str) -> str:
        if version == default:
            return "in force (the default)"
        tables = [seed for seed in VERSIONED if methodology.rows(seed, version) != methodology.rows(seed, default)]
        return "differs from " + default + " in " + (", ".join(f"`{t}`" for t in tables) or "nothing")
    return _table(["version", "adopted on", "early-warning rules", "compared with the default", "note"], [
        [v["methodology_version"], v["adopted_on"], v["warning_rule_set"], differs(v["methodology_version"]), v["note"]]
        for v in methodology.all_rows("methodology_versions")])


def _warning_rules() -> str:
    return _table(["version", "signal", "中文", "severity", "statistic", "threshold", "minimum count",
                   "observation point"], [
        [r["methodology_version"], r["signal"], r["label_zh"], r["severity"], r["statistic"], r["threshold"] or "—",
         r["min_count"] or "—", r["observation_point"]]
        for r in methodology.all_rows("warning_rules") if r["enabled"] == "true"])


def _warning_parameters() -> str:
    return _table(["version", "parameter", "value", "what it does"], [
        [r["methodology_version"], f"`{r['parameter']}`", r["value"], r["description"]]
        for r in methodology.all_rows("warning_parameters")])


def _settings() -> str:
    variables = methodology.variables()
    return _table(["setting (dbt var)", "value"], [[f"`{name}`", value] for name, value in variables.items()])


TABLES = {"indicators": _indicators, "grades": _grades, "survey_points": _survey_points,
          "versions": _versions, "warning_rules": _warning_rules, "warning_parameters": _warning_parameters,
          "settings": _settings}


def _all_indicators() -> list[dict]:
    """Every version's indicators, in display order: the evaluation mart's columns (macro indicators)."""
    first: dict[str, dict] = {}
    for row in sorted(methodology.all_rows("methodology_indicators"), key=lambda r: (int(r["display_order"]), r["indicator"])):
        first.setdefault(row["indicator"], row)
    return list(first.values())


def _indicator_columns(indent: str, tested: bool) -> str:
    lines = []
    for i in _all_indicators():
        lines += [f"{indent}- name: {i['indicator']}",
                  f"{indent}  description: {i['label_zh']} ({i['label_en']}), the indicator's score in points, 0–100."]
        if tested:
            lines.append(f"{indent}  data_tests: [{{between: {{arguments: {{min_value: 0, max_value: 100}}}}}}]")
    return "\n".join(lines) + "\n"


YAML_BLOCKS = {"indicator_columns": lambda indent: _indicator_columns(indent, tested=True),
               "indicator_column_docs": lambda indent: _indicator_columns(indent, tested=False)}


def render(text: str) -> str:
    """`text` with every generated table or YAML block rewritten from the configuration."""
    text = MARKER.sub(lambda m: m.group(1) + TABLES[m.group(2)]() + m.group(3), text)
    return YAML_MARKER.sub(lambda m: m.group(1) + m.group(2) + YAML_BLOCKS[m.group(3)](m.group(1)) + m.group(4),
                           text)


def write() -> list[Path]:
    """Rewrite every generated part of the docs; the paths written."""
    paths = [DOC, *YAML_DOCS]
    for path in paths:
        path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return paths
