"""End to end: `dvc repro` of the gan and anomaly pipelines on smoke params in a temporary repo."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stages.anomaly.evaluate import BOOTSTRAP_RESAMPLES, bootstrap_roc_auc, roc_auc
from tests.gan.smoke import SMOKE

GAN_STAGES = {"gan-digits", "gan-dcgan", "gan-sagan"}
ANOMALY_STAGES = {"anomaly-anogan", "anomaly-efficientgan", "anomaly-evaluate"}
SEED = 3
ANOMALOUS_PER_CLASS = 10  # differs from test_per_class, so a mix-up of the two counts shows


@pytest.mark.e2e
@pytest.mark.slow(115)
@pytest.mark.pipelines("anomaly", "gan-sagan")
def test_dvc_repro_gan_and_anomaly_then_rerun_only_downstream_of_a_changed_param(temp_repo):
    repo = temp_repo
    repo.set_params({**SMOKE, "gan.digits.anomalous_per_class": ANOMALOUS_PER_CLASS, "common.seed": SEED}, commit="smoke params")

    first = repo.dvc("repro", "gan-sagan", "anomaly-evaluate")
    assert set(repo.ran_stages(first)) == GAN_STAGES | ANOMALY_STAGES

    # the test set holds the declared counts: test_per_class of each normal digit, anomalous_per_class 2s
    with np.load(repo.path / "data/gan/digits/test.npz") as z:
        labels, anomalous = z["labels"], z["anomalous"]
    per_class = SMOKE["gan.digits.test_per_class"]
    assert sorted(np.unique(labels, return_counts=True)[1].tolist()) == [per_class, per_class, ANOMALOUS_PER_CLASS]
    assert anomalous.sum() == ANOMALOUS_PER_CLASS and set(labels[anomalous]) == {2}

    # metrics.json: each method's ROC-AUC is the one its per-image scores give, inside its bootstrap
    # interval, and the interval is the one the seed reproduces
    metrics = json.loads((repo.path / "artifacts/anomaly/evaluate/metrics.json").read_text())
    assert (metrics["n_test"], metrics["n_anomalous"]) == (len(labels), ANOMALOUS_PER_CLASS)
    for method, csv in (("anogan", "artifacts/anomaly/anogan/scores.csv"), ("efficientgan", "artifacts/anomaly/evaluate/scores.csv")):
        frame = pd.read_csv(repo.path / csv)
        assert frame["anomalous"].tolist() == anomalous.astype(int).tolist()
        scores, m = frame["score"].to_numpy(), metrics[method]
        assert m["roc_auc"] == pytest.approx(roc_auc(anomalous, scores), abs=0.01)  # scores.csv keeps 6 digits
        assert m["roc_auc_low"] <= m["roc_auc"] <= m["roc_auc_high"]
        low, high = bootstrap_roc_auc(anomalous, scores, BOOTSTRAP_RESAMPLES, SEED)
        assert (m["roc_auc_low"], m["roc_auc_high"]) == pytest.approx((low, high), abs=0.01)
        assert "seconds_per_image" not in m
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
