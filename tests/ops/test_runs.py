"""Run records for every stage run: written by run_stage, whoever starts the stage (here a plain
`dvc repro`), outside DVC's outputs; shown by `python -m pipelines runs` and `audit`."""
from __future__ import annotations

import json

import pytest
import yaml

from stages.core.runs import format_runs, producing_run, read_history, record_root, slowest_stages

TABULAR = ["tabular-download", "tabular-split", "tabular-encode", "tabular-impute", "tabular-analyze",
           "tabular-scale", "tabular-balance", "tabular-train", "tabular-evaluate"]


@pytest.mark.slow(120)
def test_plain_dvc_repro_records_every_stage_run(reproduced_tabular):
    repo = reproduced_tabular  # its session `dvc repro tabular-evaluate` ran every tabular stage
    history = read_history(repo.path)
    assert [r["stage"] for r in history] == ["params-check", *TABULAR]   # params.yaml checked first
    head = repo.run("git", "rev-parse", "HEAD").stdout.strip()
    for r in history:
        assert r["status"] == "ok" and r["commit"] == head and r["host"] and r["device"] == "cpu"
        assert r["wall_seconds"] > 0 and r["cpu_seconds"] > 0 and r["peak_memory_mb"] > 20
        assert r["finished_utc"] >= r["started_utc"] and len(r["run_id"]) == 12
    # the record is not a DVC output, and git ignores it
    assert ".reprolab" not in (repo.path / "dvc.lock").read_text()
    assert repo.run("git", "status", "--porcelain", "--ignored", ".reprolab").stdout.startswith("!! .reprolab")
    # the file outputs' hashes tie a record to the artifact dvc.lock records
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    md5 = next(o["md5"] for o in lock["tabular-train"]["outs"] if o["path"] == "artifacts/tabular/train/model.pkl")
    assert producing_run("tabular-train", "artifacts/tabular/train/model.pkl", md5, repo.path)["outputs"][
        "artifacts/tabular/train/model.pkl"] == md5

    proc = repo.python("-m", "pipelines", "runs", "tabular")
    assert "last 9 of 9 recorded run(s)" in proc.stdout and "slowest stages" in proc.stdout
    assert all(s in proc.stdout for s in TABULAR)
    audit = repo.python("-m", "pipelines", "audit", "artifacts/tabular/train/model.pkl").stdout
    assert "run that produced it (wall clock, in no output)  (this artifact)" in audit and "wall_seconds" in audit
    assert repo.python("-m", "pipelines", "runs", "tabluar", check=False).returncode == 2


def test_a_stage_stopped_by_bad_params_is_recorded_too(tabular_repo):
    repo = tabular_repo
    repo.set_param("tabular.train.C", "abc")
    assert repo.dvc("repro", "tabular-train", check=False).returncode != 0
    last = read_history(repo.path)[-1]          # params-check stopped the run, before tabular-train
    assert last["stage"] == "params-check" and last["status"] == "bad-input" and "tabular.train.C" in last["error"]
    assert repo.dvc("repro", "--single-item", "tabular-train", check=False).returncode != 0
    last = read_history(repo.path)[-1]
    assert last["stage"] == "tabular-train" and last["status"] == "bad-input"
    assert "tabular.train.C" in last["error"] and last["outputs"] == {}
    # the last good record of the stage is kept for audit and the flow
    good = json.loads((repo.path / ".reprolab/runs/tabular-train.json").read_text())
    assert good["status"] == "ok" and good["run_id"] != last["run_id"]


def test_records_of_a_queued_experiment_go_to_the_repository_it_was_queued_from(tmp_path):
    assert record_root(tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123") == tmp_path
    assert record_root(tmp_path) == tmp_path


def test_runs_listing_and_slowest_stages():
    records = [{"stage": "a-x", "status": "ok", "wall_seconds": 1.0, "cpu_seconds": 1.0, "peak_memory_mb": 100},
               {"stage": "a-y", "status": "ok", "wall_seconds": 9.0, "cpu_seconds": 2.0, "peak_memory_mb": 50,
                "peak_children_memory_mb": 400},
               {"stage": "a-x", "status": "ok", "wall_seconds": 3.0, "cpu_seconds": 1.0, "peak_memory_mb": 120},
               {"stage": "a-y", "status": "failed", "error": "RuntimeError: boom", "wall_seconds": 99.0}]
    slow = slowest_stages(records)
    assert [s["stage"] for s in slow] == ["a-y", "a-x"] and slow[1]["mean_wall_s"] == 2.0 and slow[0]["peak_mb"] == 400
    text = format_runs(records)
    assert "last 4 of 4" in text and "a-y failed" in text and "RuntimeError: boom" in text
    assert "no stage runs recorded" in format_runs([])


@pytest.mark.parametrize("argv", [["runs", "-n", "-5"], ["runs", "-n", "0"], ["runs", "--top", "0"], ["runs", "-n", "x"],
                                  ["history", "tabular", "-n", "0"]])
def test_runs_refuses_a_count_below_one(argv, capsys):
    from pipelines.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2 and ("at least 1" in capsys.readouterr().err)


def test_runs_accepts_a_positive_count():
    from pipelines.cli import build_parser

    assert build_parser().parse_args(["runs", "-n", "3"]).num == 3


def test_runs_of_one_pipeline_reads_the_dag_once(tmp_path, monkeypatch, capsys):
    """``runs PIPELINE`` read dvc.yaml's DAG once per stage (each read collects every stage: 52 reads,
    25 s of CPU for the project); once is enough, and an unknown name is still one error line."""
    from pipelines import cli
    from pipelines.dag import StageInfo

    reads = []
    dag = [StageInfo("params-check", ()), StageInfo("p-a", ("params-check",)), StageInfo("p-b", ("p-a",)),
           StageInfo("q-a", ("params-check",))]
    monkeypatch.setattr(cli, "read_dag", lambda root=".": reads.append(root) or dag)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["runs", "p"]) == 0 and len(reads) == 1
    assert "no stage runs recorded" in capsys.readouterr().out
    assert cli.main(["runs", "nope"]) == 2 and len(reads) == 2
    assert capsys.readouterr().err.strip() == "error: unknown pipeline 'nope' (known: p, q)"
