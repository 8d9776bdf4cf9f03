from pathlib import Path

import pytest

from pipelines.dag import StageInfo, flatten, pipelines, read_dag, select

ROOT = Path(__file__).resolve().parents[2]

DAG = [
    StageInfo("gan-data", ()),
    StageInfo("gan-train", ("gan-data",)),
    StageInfo("anomaly-score", ("gan-train",)),
    StageInfo("tabular-download", ()),
]


def test_select_takes_the_upstream_closure():
    assert [s.name for s in select(DAG, ["anomaly"])] == ["gan-data", "gan-train", "anomaly-score"]
    assert [s.name for s in select(DAG, ["gan-train"])] == ["gan-data", "gan-train"]
    assert len(select(DAG, ["all"])) == 4
    with pytest.raises(KeyError, match="unknown pipeline or stage 'tabluar'"):
        select(DAG, ["tabluar"])


def test_pipelines_grouping_and_flatten():
    assert pipelines(DAG) == {"gan": ["gan-data", "gan-train"], "anomaly": ["anomaly-score"], "tabular": ["tabular-download"]}
    assert flatten({"a": {"b": 1}, "c": 2.0}) == {"a.b": 1, "c": 2.0}


def test_project_dag_is_read_from_dvc_yaml():
    dag = read_dag(ROOT)
    names = [s.name for s in dag]
    assert names.index("tabular-download") < names.index("tabular-split") < names.index("tabular-evaluate")
    assert "artifacts/tabular/evaluate/metrics.json" in next(s for s in dag if s.name == "tabular-evaluate").metrics


def test_metrics_command_prints_each_value_on_its_line(tmp_path):
    """`python -m pipelines metrics PIPELINE`: the declared metrics files of that pipeline, flattened."""
    import json
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT, run_env

    for rel in ("dvc.yaml", "params.yaml", ".dvc/config"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # DVC opens the repo through git
    metrics = tmp_path / "artifacts/tabular/evaluate/metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"test_accuracy": 0.8125, "comparison": {"scaled": {"n": 3}}}))
    cmd = [sys.executable, "-m", "pipelines", "metrics"]
    proc = subprocess.run([*cmd, "tabular"], cwd=tmp_path, env=run_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert ["test_accuracy", "0.8125"] in lines and ["comparison.scaled.n", "3"] in lines
    bad = subprocess.run([*cmd, "nope"], cwd=tmp_path, env=run_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown pipeline(s) nope" in bad.stderr
