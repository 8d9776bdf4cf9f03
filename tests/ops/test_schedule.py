"""A served retraining deployment runs on its own: the Prefect server's *scheduler* creates the flow run
(no manual trigger), the runner executes it, and the server logs no traceback while doing so.

The session's server runs its scheduler loop every 2 s (``PREFECT_SERVER_SERVICES_SCHEDULER_*``, set
where ``tests/conftest.py`` starts it) and the deployment is served on a short interval, so one
scheduled run starts within seconds.
"""
from __future__ import annotations

import sys
import time

import httpx
import pytest

from tests.conftest import make_repo, run_env
from tests.ops.helpers import group_alive, start, stop

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def server_errors(text: str) -> list[str]:
    """Lines of a Prefect server log that show a crash (a traceback, an SQLAlchemy error)."""
    return [line for line in text.splitlines()
            if "Traceback (most recent call last)" in line or "sqlalchemy.exc." in line or " ERROR " in line]


def scheduled_runs(api: str, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()


@pytest.mark.e2e
@pytest.mark.slow(60)
def test_schedule_fires_without_manual_trigger(prefect_server, tmp_path):
    """On the session's server (tests/conftest.py starts it with the scheduler loop shortened); its log
    is read from where it stood when this test began."""
    api, home = prefect_server
    server_log = home / "server.log"
    since = server_log.stat().st_size

    def new_server_lines() -> str:
        with open(server_log, errors="replace") as log:
            log.seek(since)
            return log.read()

    repo = make_repo(tmp_path / "repo", ["tabular"])
    serve_log = tmp_path / "serve.log"
    serve = None
    try:
        env = run_env(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="INFO",
                      PREFECT_RUNNER_POLL_FREQUENCY="1")  # default 10 s between looks for due runs
        # one stage keeps a run short (~15 s; the gate and training are tested in test_retrain.py), and an
        # interval longer than a run keeps runs from queueing up late behind each other; its own
        # deployment name, as every test sharing the server uses
        serve = start([sys.executable, "-m", "pipelines", "serve", "retrain", "--name", "scheduled", "--interval", "20",
                       "--pipelines", "tabular-download"], serve_log, env, cwd=repo.path)

        deadline = time.monotonic() + 300
        deployment = None
        done = None
        while time.monotonic() < deadline and done is None:
            if serve.poll() is not None:
                raise AssertionError(f"serve exited {serve.returncode}:\n{serve_log.read_text()[-3000:]}")
            errors = server_errors(new_server_lines())
            assert not errors, "the Prefect server logged errors:\n" + new_server_lines()[-4000:]
            if deployment is None:
                resp = httpx.get(f"{api}/deployments/name/retrain/scheduled", timeout=10)
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
                                  + new_server_lines()[-3000:] + "\nserve log:\n" + serve_log.read_text()[-2000:])
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
    assert not server_errors(new_server_lines()), new_server_lines()[-4000:]
    assert serve is not None and not group_alive(serve.pid)
