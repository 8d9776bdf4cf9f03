"""End to end: `dvc repro` of the tabular pipeline in a temporary copy of the repo."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.conftest import clone_repo, run_env, serve_directory

pytestmark = pytest.mark.e2e

STAGES = ["tabular-download", "tabular-split", "tabular-encode", "tabular-impute", "tabular-analyze",
          "tabular-scale", "tabular-balance", "tabular-train", "tabular-evaluate"]
METRICS = "artifacts/tabular/evaluate/metrics.json"
TITANIC_SHA256 = "81787d320d7f7b03df935e91de8bd19e11d45c5bbcab86ef4d4a76dc91b7d4f2"
DOWNLOAD = ["-m", "stages.tabular.download"]  # its outputs come from its dvc.yaml entry


@pytest.fixture(scope="module")
def repo(reproduced_tabular, tmp_path_factory):
    """A copy of the session's reproduced repo (``first``: its one fresh `dvc repro tabular-evaluate`);
    the tests below run in file order on it."""
    return clone_repo(reproduced_tabular, tmp_path_factory.mktemp("tabular") / "repo")


def metrics(repo) -> dict:
    return json.loads((repo.path / METRICS).read_text())


def test_repro_runs_every_stage_and_writes_metrics(repo):
    assert repo.ran_stages(repo.first) == STAGES
    m = metrics(repo)
    assert 0.7 < m["test_accuracy"] <= 1.0
    assert set(m["comparison"]) == {"unscaled", "scaled"}
    assert (repo.path / "artifacts/tabular/scale/scalers/age.pkl").exists()
    assert (repo.path / "artifacts/tabular/evaluate/confusion.png").stat().st_size > 1000
    profile = json.loads((repo.path / "data/tabular/profile.json").read_text())
    assert profile["rows"] == 1309 and profile["columns"]["age"]["missing"] > 0


def test_second_repro_runs_nothing(repo):
    proc = repo.dvc("repro", "tabular-evaluate")
    assert repo.ran_stages(proc) == []
    assert "didn't change" in proc.stdout


def test_changing_C_reruns_exactly_train_and_evaluate(repo):
    before = metrics(repo)
    repo.set_param("tabular.train.C", 3.0)
    proc = repo.dvc("repro", "tabular-evaluate")
    assert repo.ran_stages(proc) == ["tabular-train", "tabular-evaluate"]
    assert metrics(repo)["n_test"] == before["n_test"]
    repo.run("git", "checkout", "params.yaml")
    proc = repo.dvc("repro", "tabular-evaluate")  # back to C=1: DVC's run-cache restores, nothing runs
    assert repo.ran_stages(proc) == [] and "Stage 'tabular-train' is cached" in proc.stdout
    assert metrics(repo) == before


def test_swapped_pickle_is_refused(repo):
    model = repo.path / "artifacts/tabular/train/model.pkl"
    original = model.read_bytes()
    shutil.copy(repo.path / "artifacts/tabular/impute/imputer.pkl", model)
    try:
        cmd = yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"]["tabular-evaluate"]["cmd"]
        proc = repo.python(*cmd.split()[1:], check=False)
        assert proc.returncode == 2  # a StageError: bad input (stages.core.runtime.BAD_INPUT_EXIT)
        assert "model.pkl: refusing to unpickle" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        model.write_bytes(original)


def test_params_typo_names_the_key(repo):
    repo.set_param("tabular.download.sourec", "url")
    try:
        proc = repo.python(*DOWNLOAD, check=False)
        assert proc.returncode == 2
        assert "tabular.download.sourec" in proc.stderr and "unknown key" in proc.stderr
    finally:
        repo.run("git", "checkout", "params.yaml")


@pytest.mark.slow(110)
def test_real_titanic_through_the_url_source(repo, shared_data, tmp_path):
    env = run_env(REPROLAB_CACHE=str(tmp_path / "cache"))
    with serve_directory(shared_data) as url:
        repo.set_param("tabular.download.source", "url")
        repo.set_param("tabular.download.url", f"{url}/titanic.csv")
        repo.set_param("tabular.download.sha256", TITANIC_SHA256)
        proc = repo.run("dvc", "repro", "tabular-evaluate", env=env)
    assert repo.ran_stages(proc)[0] == "tabular-download"
    profile = json.loads((repo.path / "data/tabular/profile.json").read_text())
    assert profile["rows"] == 891 and "fare" in profile["columns"]
    assert metrics(repo)["test_accuracy"] >= 0.78


def test_wrong_checksum_fails_and_leaves_no_output(repo, shared_data, tmp_path):
    raw = repo.path / "data/tabular/raw.parquet"
    raw.unlink(missing_ok=True)
    env = run_env(REPROLAB_CACHE=str(tmp_path / "cache"))
    with serve_directory(shared_data) as url:
        repo.set_param("tabular.download.source", "url")
        repo.set_param("tabular.download.url", f"{url}/titanic.csv")
        repo.set_param("tabular.download.sha256", "0" * 64)
        proc = repo.python(*DOWNLOAD, check=False, env=env)
    assert proc.returncode == 2
    assert "checksum mismatch" in proc.stderr and "titanic.csv" in proc.stderr
    assert not raw.exists()
    assert not list((repo.path / "data/tabular").glob(".*tmp*"))


def test_csv_without_age_names_the_column(repo, shared_data, tmp_path):
    import pandas as pd

    csv = tmp_path / "no_age.csv"
    pd.read_csv(shared_data / "titanic.csv").drop(columns=["age"]).to_csv(csv, index=False)
    repo.set_param("tabular.download.source", "path")
    repo.set_param("tabular.download.path", [str(csv)])
    proc = repo.python(*DOWNLOAD, check=False)
    assert proc.returncode == 2
    assert "no_age.csv" in proc.stderr and "missing: age" in proc.stderr
    assert "Traceback" not in proc.stderr
