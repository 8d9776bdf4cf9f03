"""GPU-host handoff: remote set-up, push with the run-cache, pull and reproduce on a second clone."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.dag import StageInfo
from pipelines.remote import RemoteError, build_spec, downstream, remote_kind, training_stages, upstream
from tests.conftest import BIN, Repo, clone_repo, run_env
from tests.ops.helpers import free_port, start, stop, wait_http

TARGET = "tabular-evaluate"  # the tabular pipeline's last stage: `dvc repro` it and all upstream, nothing else

DAG = [  # a small DAG in topological order: a download, two preprocessing steps, training, evaluation
    StageInfo("p-download", ()),
    StageInfo("p-prep", ("p-download",)),
    StageInfo("p-features", ("p-prep",)),
    StageInfo("p-fit", ("p-features",), train=True),   # meta: {train: true}, whatever its name
    StageInfo("p-train", ("p-features",)),             # no mark: not a training stage, despite its name
    StageInfo("p-evaluate", ("p-fit", "p-train")),
]


# ---- pure functions ------------------------------------------------------------------------------

def test_remote_kind_from_url():
    assert remote_kind("/mnt/shared/dvc") == "local"
    assert remote_kind("file:///mnt/shared") == "local"
    assert remote_kind("s3://bucket/prefix") == "s3"
    assert remote_kind("ssh://gpu-host/srv/dvc") == "ssh"
    with pytest.raises(RemoteError, match="scheme 'gs'"):
        remote_kind("gs://bucket")


def test_build_spec_puts_secrets_in_local_config(tmp_path):
    spec = build_spec("s3", "s3://b/p", root=tmp_path, endpoint_url="http://minio:9000",
                      access_key_id="id", secret_access_key="secret")
    assert spec.kind == "s3"
    assert ("endpointurl", "http://minio:9000") in spec.options
    assert dict(spec.secrets) == {"access_key_id": "id", "secret_access_key": "secret"}
    ssh = build_spec("gpu", "ssh://host/srv/dvc", root=tmp_path, user="me", port=2222, keyfile="~/.ssh/id")
    assert dict(ssh.options) == {"user": "me", "port": "2222"}
    assert dict(ssh.secrets)["keyfile"].endswith(".ssh/id")
    local = build_spec("shared", "relative/remote", root=tmp_path)
    assert Path(local.url).is_absolute()


def test_build_spec_rejects_options_of_another_kind(tmp_path):
    with pytest.raises(RemoteError, match="--endpoint-url only applies to s3"):
        build_spec("gpu", "ssh://host/srv", root=tmp_path, endpoint_url="http://x")
    with pytest.raises(RemoteError, match="--keyfile only applies to ssh"):
        build_spec("shared", "/mnt/x", root=tmp_path, keyfile="k")
    with pytest.raises(RemoteError, match="both --access-key-id and --secret-access-key"):
        build_spec("s3", "s3://b", root=tmp_path, access_key_id="id")


def test_training_stages_are_those_marked_in_dvc_yaml():
    assert training_stages(DAG) == ["p-fit"]
    bad = [*DAG, StageInfo("p-tune", ("p-fit",), train_error="dvc.yaml: p-tune: meta.train: expected true or false, got 'yes'")]
    with pytest.raises(ValueError, match=r"^dvc\.yaml: p-tune: meta\.train: expected true or false"):
        training_stages(bad)


def test_downstream_and_upstream_of_training():
    assert downstream(DAG, ["p-train"]) == ["p-train", "p-evaluate"]
    assert upstream(DAG, ["p-train"]) == ["p-download", "p-prep", "p-features"]
    assert upstream(DAG, []) == []


# ---- end to end: clone A pushes, clone B pulls ----------------------------------------------------

def pipelines_cli(repo: Repo, *args: str) -> str:
    return repo.python("-m", "pipelines", *args).stdout


@pytest.fixture(scope="module")
def host_a(reproduced_tabular, tmp_path_factory) -> tuple[Repo, Path]:
    """Clone A (the CPU host): everything reproduced and pushed to a folder remote, plus the run-cache
    of a second training run (C=2.0) whose outputs no commit records. Starts from a copy of the
    session's reproduced repo (its repro below runs nothing)."""
    base = tmp_path_factory.mktemp("handoff")
    remote_dir = base / "remote"
    a = clone_repo(reproduced_tabular, base / "a")
    pipelines_cli(a, "remote", "setup", "shared", str(remote_dir))
    a.dvc("repro", TARGET)
    a.commit("A: reproduced, remote set up")
    assert "pushed" in pipelines_cli(a, "remote", "push", "tabular")
    a.set_param("tabular.train.C", 2.0)
    a.dvc("repro", TARGET)
    pipelines_cli(a, "remote", "push", "tabular")  # outputs and run-cache of the C=2.0 run
    a.run("git", "checkout", "HEAD", "--", "params.yaml", "dvc.lock")  # HEAD: dvc autostages dvc.lock
    a.dvc("checkout", "--force", "--with-deps", TARGET)
    return a, remote_dir


def clone(a: Repo, dest: Path) -> Repo:
    """Clone B: a git clone (no outputs, an empty DVC cache of its own)."""
    a.run("git", "clone", "-q", str(a.path), str(dest))
    b = Repo(dest)
    assert not (dest / "artifacts" / "tabular").exists()
    return b


def expected_after_training_change(repo: Repo, monkeypatch) -> list[str]:
    """The training stages of the tabular pipeline and everything downstream of them, from dvc.yaml."""
    from pipelines.dag import read_dag, select

    monkeypatch.chdir(repo.path)  # DVC names stages relative to the working directory
    dag = select(read_dag(repo.path), ["tabular"])
    return downstream(dag, training_stages(dag))


@pytest.mark.e2e
@pytest.mark.slow(170)
def test_handoff_through_folder_remote(host_a, tmp_path, monkeypatch):
    a, _ = host_a
    b = clone(a, tmp_path / "b")
    out = pipelines_cli(b, "remote", "pull", "tabular")
    assert "stages left to run on this host: none" in out
    assert b.ran_stages(b.dvc("repro", TARGET)) == []                          # zero stages executed
    assert (b.path / "artifacts/tabular/train/model.pkl").is_file()

    b.set_param("tabular.train.C", 2.0)                                # trained on A: from the run-cache
    proc = b.dvc("repro", "--pull", TARGET)                            # --pull: the outputs of run-cache entries
    assert b.ran_stages(proc) == []
    assert "Stage 'tabular-train' is cached" in proc.stdout

    b.set_param("tabular.train.C", 0.5)                                # new: only training and evaluation run
    ran = b.ran_stages(b.dvc("repro", TARGET))
    assert ran == ["tabular-train", "tabular-evaluate"]
    assert ran == expected_after_training_change(b, monkeypatch)


@pytest.mark.e2e
def test_prepare_runs_everything_upstream_of_training_then_pushes(reproduced_tabular, tmp_path):
    # a host that reproduced tabular before (its run-cache) but has none of its outputs now
    repo = clone_repo(reproduced_tabular, tmp_path / "cpu")
    shutil.rmtree(repo.path / "data" / "tabular")
    shutil.rmtree(repo.path / "artifacts" / "tabular")
    pipelines_cli(repo, "remote", "setup", "shared", str(tmp_path / "remote"))
    out = pipelines_cli(repo, "remote", "prepare", "tabular")
    assert "upstream of tabular-train" in out and "pushed" in out
    assert (repo.path / "artifacts/tabular/balance/train.parquet").is_file()
    assert not (repo.path / "artifacts/tabular/train/model.pkl").exists()       # left to the GPU host
    assert any((tmp_path / "remote" / "files").rglob("*"))


@pytest.fixture
def moto_s3(tmp_path, monkeypatch) -> str:
    """A moto S3 server on 127.0.0.1 with a bucket ``reprolab``; stopped after the test."""
    port = free_port()
    log = tmp_path / "moto.log"
    proc = start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log, run_env())
    url = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                       "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}.items():
        monkeypatch.setenv(key, value)
    try:
        wait_http(f"{url}/moto-api/", proc, log, timeout=60)
        import boto3

        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="reprolab")
        yield url
    finally:
        stop(proc)


@pytest.mark.e2e
def test_handoff_through_s3(host_a, moto_s3, tmp_path):
    a, _ = host_a
    s3 = ["s3://reprolab/dvc", "--endpoint-url", moto_s3]
    pipelines_cli(a, "remote", "setup", "s3", *s3, "--no-default")
    assert "pushed" in pipelines_cli(a, "remote", "push", "--remote", "s3", "tabular")
    # dvc push --run-cache sent every run-cache entry of A, the C=2.0 training run included.
    b = clone(a, tmp_path / "b")
    pipelines_cli(b, "remote", "setup", "s3", *s3, "--access-key-id", "testing", "--secret-access-key", "testing")
    assert "access_key_id" in (b.path / ".dvc" / "config.local").read_text()    # secrets stay out of git
    assert "access_key_id" not in (b.path / ".dvc" / "config").read_text()
    proc = b.dvc("repro", "--pull", TARGET)
    assert b.ran_stages(proc) == [], proc.stdout + proc.stderr         # zero stages executed
    assert (b.path / "artifacts/tabular/evaluate/metrics.json").is_file()
    b.set_param("tabular.train.C", 2.0)
    proc = b.dvc("repro", "--pull", TARGET)
    assert b.ran_stages(proc) == [] and "Stage 'tabular-train' is cached" in proc.stdout
    a.run("git", "checkout", "--", ".dvc/config")                     # leave A as the other test expects
