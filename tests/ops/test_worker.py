"""A real Prefect worker: a `process` work pool, the retraining flow deployed to it with `prefect
deploy` (as docs/ops.md's "Workers" section does), a worker process started here; a run
triggered through the API executes on that worker, its logs (DVC's output included) and the stage run
records reach the server, and every process started here is stopped."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import BIN, run_env
from tests.ops.helpers import group_alive, start, stop
from tests.ops.test_retrain import run_deployment

POOL = "test-gpu"


def flow_run_logs(api: str, run_id: str) -> str:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}
    return "\n".join(entry["message"] for entry in httpx.post(f"{api}/logs/filter", json=body, timeout=10).json())


def wait_worker(api: str, worker, log, timeout: float = 60) -> None:
    """Until the pool lists a worker that sent a heartbeat (the worker polls the server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise AssertionError(f"worker exited {worker.returncode}:\n{log.read_text()[-3000:]}")
        found = httpx.post(f"{api}/work_pools/{POOL}/workers/filter", json={}, timeout=10)
        if found.is_success and found.json():
            return
        time.sleep(0.5)
    raise AssertionError(f"no worker registered in pool {POOL} within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.mark.e2e
@pytest.mark.slow(80)
def test_a_worker_in_a_process_pool_runs_the_retraining_flow(prefect_server, tabular_repo, tmp_path):
    api, home = prefect_server
    repo = tabular_repo
    repo.commit("accepted model")
    env = run_env(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="INFO",
                  PREFECT_WORKER_QUERY_SECONDS="1")  # default 10 s between the worker's looks for runs
    repo.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", "--overwrite", env=env)
    # the documented command (docs/ops.md): the deployment records this checkout's path as its working directory
    deployed = repo.run(str(BIN / "prefect"), "--no-prompt", "deploy", "pipelines/retrain.py:retrain_flow",
                        "--name", "retrain-worker", "--pool", POOL, env=env)
    assert "retrain/retrain-worker" in deployed.stdout, deployed.stdout
    deployment = httpx.get(f"{api}/deployments/name/retrain/retrain-worker", timeout=10).json()
    assert deployment["work_pool_name"] == POOL

    log = tmp_path / "worker.log"
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", "test-worker"], log, env,
                   cwd=tmp_path)  # not the checkout: the run finds it through the deployment
    try:
        wait_worker(api, worker, log)
        repo.set_param("tabular.train.C", 2.0)  # a better model: training and evaluation rerun, the gate passes
        run = run_deployment(api, deployment["id"], log, timeout=240)
        assert run["type"] == "COMPLETED", f"{run['message']}\n{log.read_text()[-3000:]}"
        flow_run = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=10).json()
        assert flow_run["work_pool_name"] == POOL and flow_run["infrastructure_pid"]   # executed by the worker
        assert run["id"] in log.read_text()                                             # and the worker says so
        logs = flow_run_logs(api, run["id"])
        assert "Running stage 'tabular-train'" in logs and "> python -m stages.tabular.train" in logs  # DVC's output
        assert "run record: tabular-train" in logs
        body = {"artifacts": {"key": {"any_": ["runs-retrain"]}}}
        records = [a for a in httpx.post(f"{api}/artifacts/filter", json=body, timeout=10).json() if a["flow_run_id"] == run["id"]]
        assert records and "tabular-train" in str(records[0]["data"])                  # the run records, as a table
        assert repo.run("git", "log", "-1", "--format=%s").stdout.startswith("retrain: accept retrain-tabular-")
    finally:
        stop(worker)
    assert not group_alive(worker.pid)
