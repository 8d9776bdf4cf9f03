"""End to end: `dvc repro` of the gan and anomaly pipelines on smoke params in a temporary repo."""
from __future__ import annotations

import json

import pytest

from tests.gan.smoke import SMOKE

GAN_STAGES = {"gan-digits", "gan-dcgan", "gan-sagan"}
ANOMALY_STAGES = {"anomaly-anogan", "anomaly-efficientgan", "anomaly-evaluate"}


@pytest.mark.e2e
def test_dvc_repro_gan_and_anomaly_then_rerun_only_downstream_of_a_changed_param(temp_repo):
    repo = temp_repo
    for dotted, value in SMOKE.items():
        repo.set_param(dotted, value)
    repo.commit("smoke params")

    first = repo.dvc("repro", "gan-sagan", "anomaly-evaluate")
    assert set(repo.ran_stages(first)) == GAN_STAGES | ANOMALY_STAGES
    metrics = json.loads((repo.path / "artifacts/anomaly/evaluate/metrics.json").read_text())
    for method in ("anogan", "efficientgan"):
        assert 0.0 <= metrics[method]["roc_auc"] <= 1.0 and "seconds_per_image" not in metrics[method]
    timing = json.loads((repo.path / ".reprolab/runs/anomaly-evaluate.json").read_text())  # wall clock: the run record
    assert timing["anogan_seconds_per_image"] > timing["efficientgan_seconds_per_image"] > 0
    for png in ("artifacts/gan/dcgan/samples.png", "artifacts/gan/sagan/attention.png", "artifacts/anomaly/evaluate/comparison.png"):
        assert (repo.path / png).stat().st_size > 0
    assert not list((repo.path / ".reprolab" / "checkpoints").glob("*/last.pt")), "resume checkpoints are removed after success"

    assert repo.ran_stages(repo.dvc("repro", "gan-sagan", "anomaly-evaluate")) == []

    repo.set_param("gan.dcgan.epochs", SMOKE["gan.dcgan.epochs"] + 1)
    again = repo.dvc("repro", "gan-sagan", "anomaly-evaluate")
    assert set(repo.ran_stages(again)) == {"gan-dcgan", "anomaly-anogan", "anomaly-evaluate"}
    assert json.loads((repo.path / "artifacts/gan/dcgan/metrics.json").read_text())["epochs"] == SMOKE["gan.dcgan.epochs"] + 1
