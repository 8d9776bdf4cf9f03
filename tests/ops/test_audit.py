"""Audit and diff: provenance of an artifact from dvc.lock across commits and experiments."""
from __future__ import annotations

import json

import pytest

from pipelines import audit
from tests.conftest import Repo, clone_repo

LOCK = {  # raw -> prep (folder) -> train -> evaluate (metrics)
    "p-download": {"cmd": "dl", "deps": [{"path": "src/dl.py", "md5": "c1"}],
                   "params": {"params.yaml": {"p.download": {"source": "embedded"}}},
                   "outs": [{"path": "data/raw.csv", "md5": "r1", "size": 10}]},
    "p-prep": {"cmd": "prep", "deps": [{"path": "data/raw.csv", "md5": "r1"}, {"path": "src/prep.py", "md5": "c2"}],
               "outs": [{"path": "artifacts/prep", "md5": "d1.dir", "nfiles": 2}]},
    "p-train": {"cmd": "train", "deps": [{"path": "artifacts/prep/train.csv", "md5": "t1"}],
                "params": {"params.yaml": {"p.train": {"lr": 0.1}}},
                "outs": [{"path": "artifacts/train/model.pt", "md5": "m1", "size": 99}]},
    "p-evaluate": {"cmd": "eval", "deps": [{"path": "artifacts/train/model.pt", "md5": "m1"}],
                   "outs": [{"path": "artifacts/evaluate/metrics.json", "md5": "j1"}]},
}


# ---- pure functions ------------------------------------------------------------------------------

def test_producer_finds_files_and_files_inside_folder_outputs():
    outs = audit.outputs(LOCK)
    assert audit.producer(outs, "artifacts/train/model.pt")[0].stage == "p-train"
    out, inner = audit.producer(outs, "artifacts/prep/train.csv")
    assert (out.stage, inner) == ("p-prep", "train.csv")
    assert audit.producer(outs, "artifacts/prepared.csv") is None       # a prefix is not a folder
    assert audit.producer(outs, "src/prep.py") is None


def test_lineage_walks_back_to_the_raw_data():
    steps = audit.lineage(LOCK, "p-train")
    assert [s["stage"] for s in steps] == ["p-train", "p-prep", "p-download"]
    assert steps[0]["deps"][0] == {"path": "artifacts/prep/train.csv", "md5": "t1", "produced_by": "p-prep"}
    assert steps[2]["deps"] == [{"path": "src/dl.py", "md5": "c1", "produced_by": None}]
    assert audit.downstream_stages(LOCK, "p-train") == ["p-train", "p-evaluate"]
    assert audit.downstream_stages(LOCK, "p-evaluate") == ["p-evaluate"]


def test_declared_metrics_and_flat_params():
    yaml_text = "stages:\n  a:\n    metrics: [m.json, {n.json: {cache: false}}]\n  b:\n    cmd: x\n"
    assert audit.declared_metrics(yaml_text) == {"a": ["m.json", "n.json"], "b": []}
    assert audit.flat_params({"params.yaml": {"p.train": {"lr": 0.1}}, "other.yaml": {"k": 1}}) == {
        "p.train.lr": 0.1, "other.yaml:k": 1}


def test_a_params_file_is_named_config_with_the_stages_that_read_it(tmp_path):
    message = audit.not_produced_message(tmp_path, "params.yaml", LOCK, None)
    assert message.startswith("params.yaml: a params file (configuration), not an artifact")
    assert "  p-download: p.download" in message and "  p-train: p.train" in message
    assert "not a dependency" not in message and "p-prep" not in message
    assert audit.params_readers(LOCK, "other.yaml") == {}


def test_resolve_rev_rejects_unknown_names(tmp_path):
    repo = Repo(tmp_path)
    repo.run("git", "init", "-q")
    with pytest.raises(audit.AuditError, match="neither a git revision nor a DVC experiment"):
        audit.resolve_rev(tmp_path, "no-such-rev")


# ---- end to end: two commits with two values of a training param, and an experiment --------------

MODEL = "artifacts/tabular/train/model.pkl"


@pytest.fixture(scope="module")
def history(reproduced_tabular, tmp_path_factory) -> tuple[Repo, dict[str, str]]:
    """A repo with commits C=1.0 and C=0.5 (HEAD) and a DVC experiment ``c-two`` (C=2.0). Starts from a
    copy of the session's reproduced repo (C=1.0 is params.yaml's value: its repro runs nothing)."""
    repo = clone_repo(reproduced_tabular, tmp_path_factory.mktemp("audit") / "repo")
    shas = {}
    for c in (1.0, 0.5):
        repo.set_param("tabular.train.C", c)
        repo.dvc("repro", "tabular-evaluate")
        repo.commit(f"train with C={c}")
        shas[str(c)] = repo.run("git", "rev-parse", "HEAD").stdout.strip()
    repo.set_param("tabular.train.C", 2.0)
    repo.dvc("repro", "tabular-evaluate")
    repo.dvc("exp", "save", "--name", "c-two", "tabular-train", "tabular-evaluate")
    repo.run("git", "checkout", "HEAD", "--", "params.yaml", "dvc.lock")
    repo.dvc("checkout", "--force", "--with-deps", "tabular-evaluate")
    return repo, shas


def audit_json(repo: Repo, *args: str, rc: int = 0) -> dict:
    proc = repo.python("-m", "pipelines", "audit", *args, "--json", check=False)
    assert proc.returncode == rc, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.e2e
@pytest.mark.slow(120)
def test_audit_each_commit_reports_its_param_and_commit(history):
    repo, shas = history
    old = audit_json(repo, MODEL, "--rev", "HEAD~1")
    new = audit_json(repo, MODEL)
    assert old["stage"] == new["stage"] == "tabular-train"
    assert old["params"]["params.yaml"]["tabular.train"]["C"] == 1.0
    assert new["params"]["params.yaml"]["tabular.train"]["C"] == 0.5
    assert old["output"]["md5"] != new["output"]["md5"]
    old_commits = [c["sha"] for c in old["commits"]]
    assert shas["1.0"] in old_commits and shas["0.5"] not in old_commits
    assert [c["sha"] for c in new["commits"]] == [shas["0.5"]]
    assert new["workspace"] == "matches dvc.lock"
    # lineage back to the raw data, each dependency with its hash
    stages = [s["stage"] for s in new["lineage"]]
    assert stages[0] == "tabular-train" and stages[-2:] == ["tabular-download", "params-check"]  # params.yaml checked first
    assert all(d["md5"] for s in new["lineage"] for d in s["deps"])
    metrics = new["metrics"]["artifacts/tabular/evaluate/metrics.json"]
    assert metrics["stage"] == "tabular-evaluate" and 0 < metrics["values"]["test_accuracy"] <= 1
    assert old["metrics"]["artifacts/tabular/evaluate/metrics.json"]["values"] != metrics["values"]


@pytest.mark.e2e
def test_audit_finds_the_experiment_recording_a_model(history):
    repo, _ = history
    report = audit_json(repo, MODEL, "--rev", "c-two")
    assert report["params"]["params.yaml"]["tabular.train"]["C"] == 2.0
    assert [e["name"] for e in report["experiments"]] == ["c-two"]
    assert report["commits"] == []
    # the workspace model (C=0.5) is in no experiment
    assert audit.audit(repo.path, MODEL)["experiments"] == []


@pytest.mark.e2e
def test_audit_any_output_kind(history):
    repo, _ = history
    inner = audit.audit(repo.path, "artifacts/tabular/split/train.parquet")     # a file inside a folder output
    assert inner["stage"] == "tabular-split" and inner["file"]["md5"] and inner["output"]["md5"].endswith(".dir")
    figure = audit.audit(repo.path, "artifacts/tabular/evaluate/confusion.png")
    assert figure["stage"] == "tabular-evaluate"
    text = repo.python("-m", "pipelines", "audit", MODEL).stdout
    assert "produced by  tabular-train" in text and "tabular.train.C = 0.5" in text


@pytest.mark.e2e
def test_audit_of_a_file_no_stage_produced(history):
    repo, _ = history
    source = audit_json(repo, "stages/tabular/train.py", rc=1)
    assert source["stage"] is None and "source file" in source["message"] and "tabular-train" in source["message"]
    proc = repo.python("-m", "pipelines", "audit", "no/such/file.bin", check=False)
    assert proc.returncode == 1 and "no stage in dvc.lock produced this file" in proc.stderr
    proc = repo.python("-m", "pipelines", "audit", MODEL, "--rev", "nope", check=False)
    assert proc.returncode == 2 and "neither a git revision" in proc.stderr


@pytest.mark.e2e
def test_diff_two_commits(history):
    repo, _ = history
    report = json.loads(repo.python("-m", "pipelines", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert report["params"]["params.yaml"]["tabular.train.C"] == {"old": 1.0, "new": 0.5, "diff": -0.5}
    assert report["metrics"]["artifacts/tabular/evaluate/metrics.json"]          # only what changed …
    every = json.loads(repo.python("-m", "pipelines", "diff", "HEAD~1", "HEAD", "--all", "--json").stdout)
    assert "test_accuracy" in every["metrics"]["artifacts/tabular/evaluate/metrics.json"]   # … or everything
    assert MODEL in report["outputs"] and "artifacts/tabular/split" not in report["outputs"]
    text = repo.python("-m", "pipelines", "diff", "HEAD~1", "c-two").stdout
    assert "tabular.train.C" in text and "2.0" in text
