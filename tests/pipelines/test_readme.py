"""The README's pipelines table and `make repro`'s metrics lines are derived from dvc.yaml (and docs/)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines import readme
from pipelines.dag import StageInfo, read_dag

ROOT = Path(__file__).resolve().parents[2]

DAG = [
    StageInfo("params-check", ()),
    StageInfo("p-download", ("params-check",)),
    StageInfo("p-split", ("p-download",)),
    StageInfo("p-train", ("p-split",)),
    StageInfo("p-plot", ("p-split",)),
    StageInfo("p-evaluate", ("p-train",)),
    StageInfo("q-score", ("p-train",)),
]


def test_stages_are_grouped_by_depth_in_the_pipelines_own_dag():
    assert readme.stage_flow(DAG, ["p-download", "p-split", "p-train", "p-plot", "p-evaluate"]) == \
        "download → split → train, plot → evaluate"
    assert readme.stage_flow(DAG, ["q-score"]) == "score (after p)"


def test_the_doc_page_is_the_pipelines_own_or_the_one_whose_title_names_it(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/p.md").write_text("# `p` pipeline\n")
    (tmp_path / "docs/both.md").write_text("# Two pipelines (`q` and `r`)\n")
    assert readme.doc_page("p", tmp_path) == tmp_path / "docs/p.md"
    assert readme.doc_page("r", tmp_path) == tmp_path / "docs/both.md"
    assert readme.doc_page("s", tmp_path) is None


def test_the_table_goes_between_the_markers_or_is_one_clear_error():
    text = f"# x\n\n{readme.BEGIN}\nold\n{readme.END}\n\nafter\n"
    assert readme.with_table(text, "| new |\n") == f"# x\n\n{readme.BEGIN}\n| new |\n{readme.END}\n\nafter\n"
    with pytest.raises(readme.ReadmeError, match=r"^README\.md: no pipelines table between the lines"):
        readme.with_table("# x\n", "| new |\n")


def test_the_readme_table_is_current():
    text = (ROOT / "README.md").read_text()
    assert readme.with_table(text, readme.table(read_dag(ROOT), ROOT)) == text, \
        "README.md's pipelines table is stale: `python -m pipelines list --readme --write` rewrites it"


def test_make_repro_prints_every_pipelines_headline_from_dvc_yaml(monkeypatch, capsys):
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrepro:", 1)[1].split("\n\n", 1)[0]
    assert "python -m pipelines metrics --headline" in recipe
    dag = read_dag(ROOT)
    names = {s.name.split("-", 1)[0] for s in dag if s.name != "params-check"}
    assert not [n for n in names if re.search(rf"\b{n}\b", recipe)]  # no pipeline named by hand

    from pipelines.cli import print_headlines

    monkeypatch.chdir(ROOT)
    assert print_headlines(dag, ["tabular", "image"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tabular  test_accuracy = ") and "(higher is better; artifacts/tabular/evaluate/metrics.json)" in out[0]
    assert out[1] == "image    no headline metric declared (all of them: python -m pipelines metrics image)"
