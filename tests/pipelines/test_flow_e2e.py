"""The Prefect flow derived from dvc.yaml gives the same outputs and dvc.lock as `dvc repro`."""
import json

import pytest
import yaml

from tests.conftest import make_repo, run_env

pytestmark = [pytest.mark.e2e, pytest.mark.pipelines("tabular")]
METRICS = "artifacts/tabular/evaluate/metrics.json"


def tabular_lock(repo) -> dict:
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    return {name: stage["outs"] for name, stage in lock.items() if name.startswith("tabular-")}


@pytest.mark.slow(125)
def test_flow_matches_dvc_repro(tmp_path, reproduced_tabular, prefect_server):
    by_flow = make_repo(tmp_path / "flow", ["tabular"])          # fresh: the flow runs every stage
    by_dvc = reproduced_tabular                     # the session's `dvc repro tabular-evaluate` of the same copy
    api, home = prefect_server                      # (test_bad_params_… below runs on a temporary server)
    env = run_env(PREFECT_API_URL=api, PREFECT_HOME=str(home))

    proc = by_flow.python("-m", "pipelines", "run", "tabular", env=env)
    assert "tabular-evaluate ran" in proc.stdout

    assert json.loads((by_flow.path / METRICS).read_text()) == json.loads((by_dvc.path / METRICS).read_text())
    assert tabular_lock(by_flow) == tabular_lock(by_dvc)

    # a second flow run: DVC skips every stage, and the flow says so
    again = by_flow.python("-m", "pipelines", "run", "tabular", env=env)
    assert "tabular-evaluate ran" not in again.stdout and "tabular-train    skipped" in again.stdout
    assert by_flow.ran_stages(by_flow.dvc("repro", "tabular-evaluate")) == []


def test_cli_rejects_unknown_pipeline(temp_repo):
    proc = temp_repo.python("-m", "pipelines", "run", "tabluar", check=False)
    assert proc.returncode == 2 and "unknown pipeline or stage 'tabluar'" in proc.stderr


def test_bad_input_is_not_retried_and_ends_in_one_line(temp_repo, tmp_path):
    """Bad data is the user's to fix: one attempt (orchestration.retries is 1), no traceback, and the
    CLI's last line is the stage's own message."""
    csv = tmp_path / "no_age.csv"
    csv.write_text("survived,pclass,sex\n1,1,female\n0,3,male\n")
    temp_repo.set_param("tabular.download.source", "path")
    temp_repo.set_param("tabular.download.path", [str(csv)])
    env = run_env(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_LOGGING_LEVEL="INFO")  # DVC's lines are INFO logs
    proc = temp_repo.python("-m", "pipelines", "run", "tabular-download", env=env, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert out.count("Running stage 'tabular-download'") == 1  # not retried
    assert "Traceback" not in out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: flow run Failed: tabular-download: ")
    assert f"{csv}: required column(s) missing: age" in errors[0]


def test_bad_params_stop_the_cli_before_any_flow(temp_repo, tmp_path):
    """A params error (here one no stage of the selection reads) stops `run` with one line, exit 2."""
    temp_repo.set_param("tabular.download.source", "nope")
    proc = temp_repo.python("-m", "pipelines", "run", "tabular-download", env=run_env(PREFECT_HOME=str(tmp_path / "ph")), check=False)
    message = "params.yaml: tabular.download.source: Input should be 'embedded', 'url' or 'path' (got 'nope')"
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"error: {message}"]
    assert "Running stage" not in proc.stdout + proc.stderr
