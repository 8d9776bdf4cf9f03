"""Parameter sweeps on DVC's experiment queue (`python -m pipelines sweep`)."""
from __future__ import annotations

import time

import pytest
import yaml

from pipelines.dag import Headline, StageInfo, headline, parse_headline, read_dag
from pipelines.sweep import (Result, SweepError, check_keys, check_params, combinations, default_metric, error_line,
                             format_table, parse_sets, pick_metric, rank)
from stages.core.runs import read_history
from tests.conftest import BIN, ROOT, run_env

ACC = "artifacts/tabular/evaluate/metrics.json:test_accuracy"


def test_grid_parsing_and_combinations():
    grid = parse_sets(["tabular.train.C=0.1,1,10", "tabular.train.kernel=rbf,linear", "x.y=[1, 2],[3]"])
    assert grid["tabular.train.C"] == ["0.1", "1", "10"] and grid["x.y"] == ["[1, 2]", "[3]"]
    combos = combinations(grid)
    assert len(combos) == 3 * 2 * 2 and combos[0] == {"tabular.train.C": "0.1", "tabular.train.kernel": "rbf", "x.y": "[1, 2]"}
    for bad, why in ((["C"], "expected key="), (["a=1,,2"], "empty value"), (["a=1", "a=2"], "twice"), ([], "nothing")):
        with pytest.raises(SweepError, match=why):
            parse_sets(bad)


def test_values_are_checked_against_the_schemas_before_anything_is_queued():
    text = (ROOT / "params.yaml").read_text()
    check_params(text, [{"tabular.train.C": "10"}], "tabular")
    with pytest.raises(SweepError, match=r"tabular.train.C=-1: .*tabular\.train\.C"):
        check_params(text, [{"tabular.train.C": "-1"}], "tabular")
    with pytest.raises(SweepError, match="no key 'CC'"):
        check_params(text, [{"tabular.train.CC": "1"}], "tabular")


def test_ranking_marks_the_best_and_lists_failures():
    results = [Result("e1", {"C": 0.1}, {ACC: 0.7, "m.json:comparison.scaled.test_accuracy": 0.7}),
               Result("e2", {"C": 1}, {ACC: 0.9}), Result("e3", {"C": 5}, error="params.yaml: boom"),
               Result("e4", {"C": 9}, {ACC: 0.8})]
    metric = pick_metric(results, "test_accuracy")
    assert metric == ACC and pick_metric(results, ACC) == ACC
    with pytest.raises(SweepError, match="no such metric"):
        pick_metric(results, "f1")
    ranked = rank(results, metric)
    assert [r.name for r in ranked] == ["e2", "e4", "e1", "e3"] and ranked[0].best and not ranked[1].best
    assert [r.name for r in rank(results, metric, lower_is_better=True)][0] == "e1"
    table = format_table(rank(results, metric), ["C"], metric).splitlines()
    assert table[1].startswith("*  e2") and "FAILED: params.yaml: boom" in table[4] and "3 of 4" in table[-1]


@pytest.fixture(scope="module")
def project_dag():
    return read_dag(ROOT)


def test_each_pipeline_ranks_by_its_declared_headline_metric(project_dag):
    expected = {"tabular": ("tabular/evaluate/metrics.json:test_accuracy", True),
                "vit": ("vit/evaluate/metrics.json:vit.test_accuracy", True),           # not cnn.test_accuracy
                "nlp": ("nlp/evaluate/metrics.json:transformer.accuracy", True),        # not the TF-IDF baseline
                "transfer": ("transfer/evaluate/metrics.json:val_accuracy", True),      # not a per-class value
                "anomaly": ("anomaly/evaluate/metrics.json:efficientgan.roc_auc", True),
                "diffusion": ("diffusion/evaluate/metrics.json:ddpm.fid", False)}        # an FID: lower wins
    for pipeline, (name, higher) in expected.items():
        found = default_metric(project_dag, pipeline)
        assert (found.name, found.higher_is_better) == ("artifacts/" + name, higher), pipeline
    with pytest.raises(SweepError, match="gan' declares no headline metric.*--sort"):
        default_metric(project_dag, "gan")


def test_headline_declarations_are_checked():
    metrics = ("m.json",)
    assert parse_headline("p-eval", None, metrics) is None and parse_headline("p-eval", {"x": 1}, metrics) is None
    found = parse_headline("p-eval", {"headline": {"metric": "fid", "higher_is_better": False}}, metrics)
    assert found == Headline("p-eval", "m.json", "fid", False) and found.name == "m.json:fid"
    for bad, why in (({"metric": "fid"}, "higher_is_better"), ({"metric": "a", "higher_is_better": "yes"}, "true|false"),
                     ({"metric": "a", "higher_is_better": True, "typo": 1}, "expected"),
                     ({"metric": "a", "higher_is_better": True, "file": "n.json"}, "not one of the stage's metrics")):
        with pytest.raises(ValueError, match=f"dvc.yaml: p-eval: meta.headline: .*{why}"):
            parse_headline("p-eval", {"headline": bad}, metrics)
    with pytest.raises(ValueError, match="2 metrics files"):
        parse_headline("p-eval", {"headline": {"metric": "a", "higher_is_better": True}}, ("a.json", "b.json"))
    two = [StageInfo("p-a", (), ("a.json",), headline=Headline("p-a", "a.json", "x", True)),
           StageInfo("p-b", (), ("b.json",), headline=Headline("p-b", "b.json", "y", True))]
    with pytest.raises(ValueError, match="on 2 stages"):
        headline(two, "p")


def test_a_key_no_stage_of_the_pipeline_reads_is_refused(project_dag):
    check_keys(["vit.train.epochs", "common.seed", "vit.data"], project_dag, "vit")
    with pytest.raises(SweepError, match=r"-S tabular.train.C: no stage of pipeline 'vit' .* reads this param.*vit\.train"):
        check_keys(["tabular.train.C"], project_dag, "vit")
    check_keys(["gan.digits.seed"], project_dag, "anomaly")        # upstream: anomaly's experiments rerun gan-digits
    with pytest.raises(SweepError, match="no stage of pipeline 'gan'"):
        check_keys(["anomaly.evaluate.resamples"], project_dag, "gan")


def test_the_cli_names_its_metric_and_refuses_another_pipelines_key_before_queueing(monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.chdir(ROOT)   # refused before anything is queued: the working tree is only read
    assert main(["sweep", "vit", "-S", "tabular.train.C=0.1,10"]) == 2
    err = capsys.readouterr().err
    assert "ranking by artifacts/vit/evaluate/metrics.json:vit.test_accuracy (higher is better" in err
    assert "error: -S tabular.train.C: no stage of pipeline 'vit'" in err
    assert main(["sweep", "gan", "-S", "gan.dcgan.epochs=1,2"]) == 2
    assert "gan' declares no headline metric" in capsys.readouterr().err
    assert main(["sweep", "tabular", "-S", "tabular.train.C=1", "--timeout", "0"]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err


SLOW_DVC_YAML = """\
stages:
  tabular-slow:
    cmd: sleep 120 && echo done > out.txt
    params: [tabular.train.C]
    outs: [out.txt]
"""


@pytest.mark.e2e
def test_sweep_timeout_stops_the_experiments(tmp_path):
    """--timeout is enforced: the sweep returns once it is reached, its experiments killed (the queue
    worker used to hold DVC's output pipe open, so the sweep waited for the whole queue)."""
    import subprocess
    import sys
    import time

    env = run_env(PYTHONPATH=str(ROOT))
    run = lambda *cmd, **kw: subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, **kw)  # noqa: E731
    run("git", "init", "-q", check=True)
    run(str(BIN / "dvc"), "init", "-q", check=True)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text(SLOW_DVC_YAML)
    run("git", "add", "-A", check=True)
    run("git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "slow", check=True)
    start = time.monotonic()
    proc = run(sys.executable, "-m", "pipelines", "sweep", "tabular", "-S", "tabular.train.C=2", "--timeout", "3",
               "--sort", "x", timeout=100)
    assert proc.returncode != 0 and "--timeout 3 s reached: 0 of 1 experiment(s) finished" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 90
    assert "ranking by --sort x (higher is better)" in proc.stderr
    status = run(str(BIN / "dvc"), "queue", "status").stdout
    assert "Running" not in status and "Queued" not in status, status
    run(str(BIN / "dvc"), "queue", "stop", "--kill")


def test_error_line_prefers_the_stages_own_message():
    log = ("Running stage 'tabular-train':\n> python -m stages.tabular.train\n"
           "08:00:00 ERROR reprolab: artifacts/x.parquet: required column(s) missing: age\n"
           "ERROR: failed to reproduce 'tabular-train': failed to run: python -m stages.tabular.train, exited with 2\n")
    assert error_line(log) == "artifacts/x.parquet: required column(s) missing: age"
    assert error_line("a\nERROR: failed to reproduce 'x'\n") == "ERROR: failed to reproduce 'x'"


@pytest.mark.slow(165)
def test_sweep_on_the_queue_with_two_workers(tabular_repo):
    repo = tabular_repo  # tabular reproduced: each experiment restores the stages before training
    repo.commit("reproduced")
    proc = repo.python("-m", "pipelines", "sweep", "tabular", "-S", "tabular.train.C=0.01,1,10", "-j", "2", "--apply-best")
    lines = proc.stdout.splitlines()
    rows = [line.split() for line in lines if "sweep-tabular-" in line and not line.startswith("applied")]
    assert len(rows) == 3, proc.stdout
    header = lines[0].split()
    col = header.index("test_accuracy") + 1 - (0 if rows[0][0] == "*" else 1)
    best = [r for r in rows if r[0] == "*"]
    assert len(best) == 1 and best[0] == rows[0]                       # sorted, best first and marked
    accuracies = [float(r[col if r[0] == "*" else col - 1]) for r in rows]
    assert len(set(accuracies)) == 3 and accuracies == sorted(accuracies, reverse=True), proc.stdout
    best_c = float(best[0][2])
    assert "3 of 3 experiment(s) succeeded" in proc.stdout
    # --apply-best: the best value is in params.yaml, and git shows the change
    assert yaml.safe_load((repo.path / "params.yaml").read_text())["tabular"]["train"]["C"] == best_c == 10
    changed = [line for line in repo.run("git", "diff", "-U0", "params.yaml").stdout.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert [line.split("#")[0].replace(" ", "") for line in changed] == ["-C:1.0", "+C:10"]  # only the swept value changed
    # every stage the queued experiments ran left a run record here, named after its experiment (C=1 is the
    # committed value: its experiment reruns nothing)
    queued = [r for r in read_history(repo.path) if r.get("experiment", "").startswith("sweep-tabular-")
              and r["stage"] != "params-check"]   # DVC rewrites params.yaml in every experiment: the check reruns
    ran = sorted((r["experiment"].rsplit("-", 1)[1], r["stage"]) for r in queued)
    assert ran == [("1", "tabular-evaluate"), ("1", "tabular-train"), ("3", "tabular-evaluate"), ("3", "tabular-train")]


def test_waiting_asks_dvc_for_the_queue_status_when_a_task_finishes(tmp_path, monkeypatch):
    """``dvc queue status`` costs a DVC process (about 1 s of CPU) each time: the wait asks it when a
    result file appears (and every ``recheck`` seconds), not every 2 s."""
    from pipelines import sweep

    results = tmp_path / ".dvc" / "tmp" / "exps" / "celery" / "result"
    results.mkdir(parents=True)
    asked = []
    states = {"e1": "Running", "e2": "Queued"}

    def status(root):
        asked.append(time.monotonic())
        now = dict(states)
        if len(asked) == 3:  # the workers finish both right after this call
            states.update(e1="Success", e2="Failed")
            (results / "celery-task-meta-1").write_text("{}")
        return now

    monkeypatch.setattr(sweep, "queue_status", status)
    start = time.monotonic()
    assert sweep.wait_for(tmp_path, ["e1", "e2"], timeout=60, poll=0.05, settle=0.2, recheck=0.6) == {
        "e1": "Success", "e2": "Failed"}
    assert len(asked) == 4 and asked[3] - asked[2] < 0.3 and time.monotonic() - start < 5  # start, 2 rechecks, the file
    assert asked[1] - asked[0] >= 0.55                         # no status call between the rechecks
    with pytest.raises(SweepError, match=r"--timeout 0.3 s reached: 0 of 1"):
        monkeypatch.setattr(sweep, "stop_experiments", lambda root, names: [])
        sweep.wait_for(tmp_path, ["e3"], timeout=0.3, poll=0.05, settle=0.1, recheck=10)
