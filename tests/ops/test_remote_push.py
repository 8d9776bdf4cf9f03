"""`python -m pipelines remote push PIPELINE` sends that pipeline's outputs and run-cache entries only."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import Repo, make_repo


def remote_files(remote_dir: Path) -> set[str]:
    """md5s of the objects in a folder remote (``files/md5/ab/cdef…[.dir]`` → ``abcdef…``)."""
    return {(p.parent.name + p.name).removesuffix(".dir") for p in (remote_dir / "files" / "md5").glob("*/*")}


def remote_entries(remote_dir: Path) -> set[str]:
    return {p.name for p in (remote_dir / "runs").glob("*/*/*")}


def local_entries(repo: Repo) -> dict[str, set[str]]:
    """Stage name → its run-cache entry file names, by the outputs each entry records."""
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    by_outs = {frozenset(o["path"] for o in s["outs"]): name for name, s in lock.items()}
    out: dict[str, set[str]] = {}
    for value in (repo.path / ".dvc" / "cache" / "runs").glob("*/*/*"):
        outs = frozenset(o["path"] for o in yaml.safe_load(value.read_text())["outs"])
        out.setdefault(by_outs[outs], set()).add(value.name)
    return out


def out_md5s(repo: Repo, stage: str) -> set[str]:
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    return {o["md5"].removesuffix(".dir") for o in lock[stage]["outs"]}


@pytest.mark.e2e
def test_push_named_pipeline_sends_only_its_outputs_and_run_cache(tmp_path):
    repo = make_repo(tmp_path / "repo", ["tabular", "image"])
    remote_dir = tmp_path / "remote"
    repo.python("-m", "pipelines", "remote", "setup", "shared", str(remote_dir))
    repo.dvc("repro", "tabular-download", "image-decode")      # run-cache entries of two pipelines
    entries = local_entries(repo)
    assert set(entries) == {"params-check", "tabular-download", "image-decode"}

    out = repo.python("-m", "pipelines", "remote", "push", "tabular").stdout
    # the pipeline's stages and what is upstream of them: params-check, which every pipeline starts from
    assert remote_entries(remote_dir) == entries["params-check"] | entries["tabular-download"]
    pushed = remote_files(remote_dir)
    assert out_md5s(repo, "tabular-download") <= pushed
    assert not out_md5s(repo, "image-decode") & pushed           # nothing of the image pipeline
    assert "2 run-cache entries" in out, out

    repo.python("-m", "pipelines", "remote", "push")              # no name: everything
    assert remote_entries(remote_dir) == entries["params-check"] | entries["tabular-download"] | entries["image-decode"]
    assert out_md5s(repo, "image-decode") <= remote_files(remote_dir)
