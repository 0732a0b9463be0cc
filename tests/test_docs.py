"""docs/methodology.md travels with the code: its tables are generated from the configuration."""

import shutil

from orchestration import methodology_doc


def test_the_methodology_doc_tables_are_those_the_configuration_writes():
    text = methodology_doc.DOC.read_text(encoding="utf-8")
    assert methodology_doc.render(text) == text, "docs/methodology.md is stale: run `jingtu docs`"
    assert text.count("<!-- generated: ") == len(methodology_doc.TABLES)


def test_a_changed_weight_shows_in_the_generated_tables(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    shutil.copytree(methodology_doc.SEEDS, seeds)
    path = seeds / "methodology_indicators.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("development,0.20", "development,0.30"),
                    encoding="utf-8")
    monkeypatch.setattr(methodology_doc, "SEEDS", seeds)
    rendered = methodology_doc.render(methodology_doc.DOC.read_text(encoding="utf-8"))
    assert "| development | 经济社会发展 | 0.30 |" in rendered
