"""Scheduled retraining: the quality gate, and a served deployment on a Prefect server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import sys
import time

import httpx
import pytest
import yaml

from stages.core.errors import ParamsError
from stages.core.params import validate_section
from tests.conftest import ROOT, Repo, run_env
from tests.ops.helpers import group_alive, start, stop


@pytest.fixture(scope="module")
def retrain():
    """:mod:`pipelines.retrain`, imported when a test of this file runs: it imports Prefect (1-2 s of
    CPU), which every xdist worker would otherwise pay while collecting."""
    from pipelines import retrain

    return retrain


@pytest.fixture(scope="module")
def acc(retrain):
    return retrain.GateParams(file="m.json", metric="acc", higher_is_better=True, max_drop=0.02)


@pytest.fixture(scope="module")
def loss(retrain):
    return retrain.GateParams(file="m.json", metric="loss", higher_is_better=False, max_drop=0.1)


# ---- the gate ------------------------------------------------------------------------------------

def test_gate_passes_within_threshold_and_fails_beyond(retrain, acc):
    assert retrain.check_gate(acc, {"acc": 0.80}, {"acc": 0.79}).passed              # worse by 0.01 <= 0.02
    assert retrain.check_gate(acc, {"acc": 0.80}, {"acc": 0.90}).passed
    failed = retrain.check_gate(acc, {"acc": 0.80}, {"acc": 0.70})
    assert not failed.passed and failed.drop == pytest.approx(0.10)
    assert "acc dropped from 0.8000 to 0.7000" in failed.reason and "allowed drop 0.02" in failed.reason


def test_gate_lower_is_better(retrain, loss):
    assert retrain.check_gate(loss, {"loss": 1.0}, {"loss": 1.05}).passed
    assert not retrain.check_gate(loss, {"loss": 1.0}, {"loss": 1.5}).passed
    assert retrain.check_gate(loss, {"loss": 1.0}, {"loss": 0.2}).drop == pytest.approx(-0.8)


def test_gate_first_model_and_missing_metric(retrain, acc):
    first = retrain.check_gate(acc, None, {"acc": 0.5})
    assert first.passed and "first model" in first.reason
    missing = retrain.check_gate(acc, {"acc": 0.8}, {"accuracy": 0.9})
    assert not missing.passed and "no numeric metric 'acc'" in missing.reason and "accuracy" in missing.reason
    table = retrain.gate_table([first, missing], "abc123", "retrain-x")
    assert "| pass |" in table and "**FAIL**" in table and "`retrain-x`" in table


def test_retrain_params_in_params_yaml_validate(retrain):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    settings = validate_section(data, "retrain", retrain.RetrainParams)
    assert settings.pipelines and all(g.max_drop >= 0 for g in settings.gate)
    bad = {"retrain": {**data["retrain"], "gate": [{**data["retrain"]["gate"][0], "max_drop": -1}]}}
    with pytest.raises(ParamsError, match=r"retrain\.gate\.0\.max_drop"):
        validate_section(bad, "retrain", retrain.RetrainParams)
    with pytest.raises(ParamsError, match="unknown key"):
        validate_section({"retrain": {**data["retrain"], "treshold": 1}}, "retrain", retrain.RetrainParams)


# ---- end to end: a Prefect server, a served deployment, runs triggered through the API ------------

def wait_deployment(api: str, name: str, serve, log, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise AssertionError(f"serve exited {serve.returncode}:\n{log.read_text()[-3000:]}")
        resp = httpx.get(f"{api}/deployments/name/{name}", timeout=10)
        if resp.is_success:
            return resp.json()
        time.sleep(1)
    raise AssertionError(f"deployment {name} not registered within {timeout} s:\n{log.read_text()[-3000:]}")


def run_deployment(api: str, deployment_id: str, log, timeout: float = 420) -> dict:
    """Create a flow run of the deployment through the REST API and wait for a final state."""
    for _ in range(5):  # a loaded SQLite server can answer 5xx (database is locked): Prefect's own client retries too
        response = httpx.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={}, timeout=30)
        if response.status_code < 500:
            break
        time.sleep(2)
    run = response.json()
    assert response.status_code < 300 and "id" in run, f"create_flow_run: HTTP {response.status_code} {response.text[:2000]}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return {**state, "id": run["id"]}  # the run id, not the state id
        time.sleep(1)
    raise AssertionError(f"flow run {run['id']} not finished within {timeout} s:\n{log.read_text()[-3000:]}")


def gate_artifact(api: str, run_id: str) -> str:
    """The markdown of the ``retrain-gate`` artifact the flow run published."""
    body = {"artifacts": {"key": {"any_": ["retrain-gate"]}}}
    found = httpx.post(f"{api}/artifacts/filter", json=body, timeout=10).json()
    mine = [a["data"] for a in found if a.get("flow_run_id") == run_id]
    assert mine, f"no retrain-gate artifact of flow run {run_id}: {found}"
    return mine[0]


def experiments(repo: Repo) -> list[str]:
    return repo.dvc("exp", "list", "--all-commits", "--name-only").stdout.split()


def locked_md5(repo: Repo, path: str, rev: str = "HEAD") -> str:
    lock = yaml.safe_load(repo.run("git", "show", f"{rev}:dvc.lock").stdout)
    return next(o["md5"] for s in lock["stages"].values() for o in s.get("outs", []) if o["path"] == path)


@pytest.mark.e2e
@pytest.mark.slow(175)
def test_served_retraining_with_quality_gate(prefect_server, tabular_repo, tmp_path):
    api, home = prefect_server
    repo = tabular_repo  # reproduced once per session: the repro below runs nothing
    remote_dir = tmp_path / "remote"
    repo.python("-m", "pipelines", "remote", "setup", "shared", str(remote_dir))
    repo.dvc("repro", "tabular-evaluate")
    repo.commit("accepted model: C=1.0")
    accepted = repo.run("git", "rev-parse", "HEAD").stdout.strip()

    log = tmp_path / "serve.log"
    # the flow's INFO lines go to serve.log (shown on a failure), not to the server: the run's messages and
    # artifacts are what this test reads (test_worker.py reads a run's logs through the API)
    env = run_env(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="INFO", PREFECT_LOGGING_TO_API_ENABLED="false")
    serve = start([sys.executable, "-m", "pipelines", "serve", "retrain", "--cron", "0 3 * * *"], log, env, cwd=repo.path)
    try:
        deployment = wait_deployment(api, "retrain/retrain", serve, log)
        assert [s["schedule"].get("cron") for s in deployment["schedules"]] == ["0 3 * * *"]

        # 1. a better model (C=2.0): the gate passes, the candidate is committed as the accepted model
        repo.set_param("tabular.train.C", 2.0)
        run = run_deployment(api, deployment["id"], log)
        assert run["type"] == "COMPLETED", f"{run['message']}\n{log.read_text()[-3000:]}"
        head = repo.run("git", "log", "-1", "--format=%H %s").stdout.split(" ", 1)
        assert head[0] != accepted and head[1].startswith("retrain: accept retrain-tabular-")
        assert "C: 2.0" in repo.run("git", "show", "HEAD:params.yaml").stdout
        first = experiments(repo)
        assert len(first) == 1 and first[0].startswith("retrain-tabular-")
        assert first[0] in repo.dvc("exp", "show", "--all-commits", "--json").stdout  # dvc exp show -A lists it
        assert any((remote_dir / "files").rglob("*")) and any((remote_dir / "runs").rglob("*"))  # pushed
        assert "| pass |" in gate_artifact(api, run["id"])

        # 2. a much worse model (C=0.01): the run fails, the accepted model stays in place
        accepted = repo.run("git", "rev-parse", "HEAD").stdout.strip()
        repo.set_param("tabular.train.C", 0.01)
        run = run_deployment(api, deployment["id"], log)
        assert run["type"] == "FAILED"
        assert "quality gate failed" in run["message"] and "test_accuracy dropped" in run["message"]
        assert repo.run("git", "rev-parse", "HEAD").stdout.strip() == accepted
        model = (repo.path / "artifacts/tabular/train/model.pkl").read_bytes()
        assert hashlib.md5(model).hexdigest() == locked_md5(repo, "artifacts/tabular/train/model.pkl")
        assert len(experiments(repo)) == 2                               # the rejected candidate is recorded
        assert "**FAIL**" in gate_artifact(api, run["id"])
    finally:
        stop(serve)
    assert serve.poll() is not None and not group_alive(serve.pid)     # nothing of its group is left
