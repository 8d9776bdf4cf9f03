"""A served retraining deployment runs on its own: the Prefect server's *scheduler* creates the flow run
(no manual trigger), the runner executes it, and the server logs no traceback while doing so.

The scheduler loop is shortened through Prefect's settings (``PREFECT_SERVER_SERVICES_SCHEDULER_*``)
and the deployment is served on a short interval, so one scheduled run starts within seconds.
"""
from __future__ import annotations

import sys
import time

import httpx
import pytest

from tests.conftest import BIN, make_repo, run_env
from tests.ops.helpers import free_port, group_alive, start, stop, wait_http

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def server_errors(text: str) -> list[str]:
    """Lines of a Prefect server log that show a crash (a traceback, an SQLAlchemy error)."""
    return [line for line in text.splitlines()
            if "Traceback (most recent call last)" in line or "sqlalchemy.exc." in line or " ERROR " in line]


def scheduled_runs(api: str, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()


@pytest.mark.e2e
@pytest.mark.slow(80)
def test_schedule_fires_without_manual_trigger(tmp_path):
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = run_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",  # default 60: one pass a minute
        PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS="2",      # a few future runs are enough
        PREFECT_SERVER_LOGGING_LEVEL="INFO",
    )
    server_env.pop("PREFECT_API_URL", None)
    server_log = home / "server.log"
    server = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                    "--no-ui", "--analytics-off"], server_log, server_env)
    repo = make_repo(tmp_path / "repo")
    serve_log = tmp_path / "serve.log"
    serve = None
    try:
        wait_http(f"{api}/health", server, server_log, timeout=180)
        env = run_env(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="INFO",
                      PREFECT_RUNNER_POLL_FREQUENCY="1")  # default 10 s between looks for due runs
        # one stage keeps a run short (~15 s; the gate and training are tested in test_retrain.py), and an
        # interval longer than a run keeps runs from queueing up late behind each other
        serve = start([sys.executable, "-m", "pipelines", "serve", "retrain", "--interval", "20",
                       "--pipelines", "tabular-download"], serve_log, env, cwd=repo.path)

        deadline = time.monotonic() + 300
        deployment = None
        done = None
        while time.monotonic() < deadline and done is None:
            for proc, log in ((server, server_log), (serve, serve_log)):
                if proc.poll() is not None:
                    raise AssertionError(f"{proc.args[:3]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            errors = server_errors(server_log.read_text())
            assert not errors, "the Prefect server logged errors:\n" + server_log.read_text()[-4000:]
            if deployment is None:
                resp = httpx.get(f"{api}/deployments/name/retrain/retrain", timeout=10)
                deployment = resp.json() if resp.is_success else None
            else:
                for run in scheduled_runs(api, deployment["id"]):
                    state = run["state"]["type"] if run.get("state") else None
                    if state in FINAL and state != "COMPLETED":
                        raise AssertionError(f"scheduled run {run['name']} ended {state}: {run['state']['message']}\n"
                                             + serve_log.read_text()[-3000:])
                    if state == "COMPLETED":
                        done = run
            time.sleep(1)
        assert deployment is not None, "deployment not registered:\n" + serve_log.read_text()[-3000:]
        assert done is not None, ("no scheduled flow run completed within 300 s; server log:\n"
                                  + server_log.read_text()[-3000:] + "\nserve log:\n" + serve_log.read_text()[-2000:])
        # the scheduler made it: auto_scheduled, tagged so, and nobody called create_flow_run
        assert done["auto_scheduled"] is True and "auto-scheduled" in done["tags"]
        assert done["parameters"]["names"] == ["tabular-download"]
        # and it did the real work: the stage wrote its outputs (the copy starts without data/) and the run
        # was recorded as a DVC experiment
        assert (repo.path / "data/tabular/raw.parquet").stat().st_size > 0
        assert "retrain-tabular-download-" in repo.dvc("exp", "list", "--all-commits", "--name-only").stdout
    finally:
        if serve is not None:
            stop(serve)
        stop(server)
    assert not server_errors(server_log.read_text()), server_log.read_text()[-4000:]
    assert serve is not None and not group_alive(serve.pid)
