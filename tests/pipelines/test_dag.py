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
