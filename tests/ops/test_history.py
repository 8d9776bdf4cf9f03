"""``python -m pipelines history PIPELINE``: one pipeline's params and metrics per commit and experiment."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.history import format_table, rows_from_exp_show
from tests.conftest import BIN, ROOT, run_env


def entry(rev, name, params, metrics, experiments=None, ts="2026-11-24T05:30:45"):
    return {"rev": rev, "name": name, "error": None, "experiments": experiments,
            "data": {"rev": rev, "timestamp": None if rev == "workspace" else ts,
                     "params": {"params.yaml": {"data": params}},
                     "metrics": {f: {"data": d} for f, d in metrics.items()}}}


def test_table_keeps_one_pipelines_columns_and_the_params_that_differ():
    p1 = {"tab": {"train": {"C": 1.0, "seed": 3}}, "gan": {"epochs": 100}}
    p2 = {"tab": {"train": {"C": 2.0, "seed": 3}}, "gan": {"epochs": 200}}
    m = lambda acc: {"a/evaluate/metrics.json": {"test_accuracy": acc}, "b/gan/metrics.json": {"loss": 9.0}}  # noqa: E731
    exp = {"name": "try-c2", "revs": [entry("e" * 40, "try-c2", p2, m(0.85))]}
    data = [entry("workspace", None, p2, m(0.85)), entry("c" * 40, "main", p2, m(0.85)),
            entry("d" * 40, None, p1, m(0.8123456), experiments=[exp])]
    rows = rows_from_exp_show(data)
    assert [(r.kind, r.name) for r in rows] == [("workspace", ""), ("commit", "main"), ("commit", ""),
                                                ("experiment", "try-c2")]
    table = format_table(rows, "tab", ["a/evaluate/metrics.json"])
    lines = table.splitlines()
    assert lines[0].split() == ["rev", "name", "date", "train.C", "test_accuracy"]   # no seed, no gan columns
    assert lines[3].split() == ["ddddddd", "2026-11-24", "05:30", "1.0", "0.8123"]
    assert lines[4].split()[:2] == ["eeeeeee", "try-c2"]
    assert "1 param(s) of tab are the same in every row" in table
    assert "train.seed" in format_table(rows, "tab", ["a/evaluate/metrics.json"], all_params=True)


@pytest.mark.e2e
def test_history_of_a_repo_with_two_commits_and_an_experiment(tmp_path):
    env = run_env(PYTHONPATH=str(ROOT))

    def run(*cmd):
        return subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout

    (tmp_path / "params.yaml").write_text("demo:\n  train:\n    C: 1.0\n    seed: 3\nother:\n  x: 1\n")
    (tmp_path / "train.py").write_text(
        "import json, yaml\np = yaml.safe_load(open('params.yaml'))\n"
        "json.dump({'acc': p['demo']['train']['C'] / 10}, open('m.json', 'w'))\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  demo-train:\n    cmd: python train.py\n    deps: [train.py]\n"
        "    params: [demo.train]\n    metrics: [m.json]\n")
    run("git", "init", "-q")
    run("git", "config", "user.email", "t@example.invalid")
    run("git", "config", "user.name", "t")
    run(str(BIN / "dvc"), "init", "-q")
    run(str(BIN / "dvc"), "repro", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "C=1")
    first = run("git", "rev-parse", "--short=7", "HEAD").strip()
    run(str(BIN / "dvc"), "exp", "run", "-q", "-S", "demo.train.C=3.0", "-n", "try-c3")
    (tmp_path / "params.yaml").write_text("demo:\n  train:\n    C: 2.0\n    seed: 3\nother:\n  x: 2\n")
    run(str(BIN / "dvc"), "repro", "-q")
    run("git", "commit", "-qam", "C=2")
    second = run("git", "rev-parse", "--short=7", "HEAD").strip()

    out = run(sys.executable, "-m", "pipelines", "history", "demo")
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["rev", "name", "date", "train.C", "acc"]                 # no other.x, no seed
    by_rev = {line[0]: line for line in lines[1:] if line}
    assert by_rev[second][-2:] == ["2.0", "0.2"]
    assert by_rev[first][-2:] == ["1.0", "0.1"]
    exp = next(line for line in lines if "try-c3" in line)
    assert exp[-2:] == ["3.0", "0.3"]
    assert "train.seed" in run(sys.executable, "-m", "pipelines", "history", "demo", "--all")
