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


def test_meta_train_marks_a_training_stage():
    from pipelines.dag import parse_train

    assert parse_train("p-fit", {"train": True}) is True
    assert parse_train("p-fit", {"headline": {}}) is False and parse_train("p-fit", None) is False
    with pytest.raises(ValueError, match=r"^dvc\.yaml: p-fit: meta\.train: expected true or false, got 'yes'$"):
        parse_train("p-fit", {"train": "yes"})


def test_the_project_marks_its_training_stages_in_dvc_yaml():
    """The stages the old rule found (a ``-train`` name, or retrain.training_stages), now marked by meta."""
    from pipelines.remote import training_stages

    assert set(training_stages(read_dag(ROOT))) == {
        "tabular-train", "nlp-train", "vit-train", "vit-cnn-train", "transfer-train", "diffusion-train",
        "gan-dcgan", "gan-sagan", "anomaly-anogan", "anomaly-efficientgan", "transfer-pretrain", "transfer-scratch",
        "transfer-finetune", "vit-finetune", "diffusion-judge", "rl-policy", "rl-selfplay", "compress-teacher",
        "compress-students", "compress-omitted", "compress-prune", "compress-quantize", "sequence-memory", "sequence-dates",
        "sequence-word2vec", "sequence-translate", "represent-contrastive", "represent-triplet", "represent-simclr",
        "represent-supervised"}


def test_the_old_training_stages_key_names_its_replacement():
    from pipelines.retrain import RetrainParams
    from stages.core.errors import ParamsError
    from stages.core.params import parse_params, validate_section

    data = parse_params((ROOT / "params.yaml").read_text())
    old = {"retrain": {**data["retrain"], "training_stages": ["gan-dcgan"]}}
    with pytest.raises(ParamsError, match=r"^params\.yaml: retrain: .*training_stages: no longer a key: .*"
                                          r"`meta: \{train: true\}`"):
        validate_section(old, "retrain", RetrainParams, "params.yaml")


def test_a_first_stage_is_a_source_unless_dvc_yaml_says_it_reads_nothing_outside():
    from pipelines.dag import is_source, parse_flag

    assert is_source(StageInfo("p-download", ("params-check",)))
    assert not is_source(StageInfo("p-train", ("p-download",)))
    assert not is_source(StageInfo("p-simulate", ("params-check",), source=False))
    assert parse_flag("p-simulate", {"source": False}, "source", None) is False
    assert parse_flag("p-download", {}, "source", None) is None
    with pytest.raises(ValueError, match=r"^dvc\.yaml: p-x: meta\.source: expected true or false, got 'no'"):
        parse_flag("p-x", {"source": "no"}, "source", None)
    with pytest.raises(ValueError, match="meta.source"):
        is_source(StageInfo("p-x", (), source_error="dvc.yaml: p-x: meta.source: expected true or false, got 'no'"))
    dag = {s.name: s for s in read_dag(ROOT)}
    assert is_source(dag["tabular-download"]) and not is_source(dag["rl-oracle"]) and not is_source(dag["rl-tabular"])
