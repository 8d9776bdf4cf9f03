"""End to end: `dvc repro` of the represent pipeline (every stage) on smoke params; changing one
method's params reruns that method and the probe only; a batch that cannot hold a pair of one class
stops the run with one line naming the param. (The losses, metrics and views: the unit tests.)"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.represent.smoke import SMOKE

STAGES = {"represent-views", "represent-contrastive", "represent-triplet", "represent-simclr", "represent-supervised",
          "represent-probe"}


@pytest.mark.e2e
@pytest.mark.slow(60)
def test_dvc_repro_represent_then_one_method_change_reruns_that_method_and_the_probe(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", "represent-probe"))) == STAGES

    data, art = repo.path / "data/represent", repo.path / "artifacts/represent"
    summary = json.loads((data / "summary.json").read_text())
    assert summary["counts"]["train"] == [30] * 10 and sum(summary["counts"]["test"]) == 180
    with np.load(data / "train.npz") as z:
        assert z["views"].shape == (300, 2, 1, 24, 24) and z["views"].dtype == np.uint8
    table = pd.read_csv(art / "probe/table.csv").set_index("model")
    assert list(table.index) == ["pixels", "random", "contrastive", "triplet", "simclr", "supervised"]
    assert ((table["r_at_1"] >= 0) & (table["r_at_1"] <= 1)).all() and (table["seeds"].loc["contrastive":] == 1).all()
    assert set(table.columns) >= {"map_at_r", "probe_0.01", "probe_0.1", "probe_1"}
    probe = pd.read_csv(art / "probe/probe.csv")
    assert len(probe) == 6 * 3 and probe["accuracy"].between(0, 1).all()
    metrics = json.loads((art / "probe/metrics.json").read_text())
    assert set(metrics["goals"]) == {"metric_learning_r_at_1", "simclr_probe_few_labels"}
    assert all(isinstance(g["met"], bool) for g in metrics["goals"].values())
    assert metrics["triplet_r_at_1"] == pytest.approx(table.loc["triplet", "r_at_1"])
    for png in ("probe/tsne.png", "probe/probe.png", "views/views.png"):
        assert (art / png).stat().st_size > 10_000

    repo.set_param("represent.simclr.temperature", 0.2)
    assert set(repo.ran_stages(repo.dvc("repro", "represent-probe"))) == {"represent-simclr", "represent-probe"}

    repo.set_param("represent.triplet.batch_size", 10)
    proc = repo.dvc("repro", "represent-probe", check=False)
    assert proc.returncode != 0 and "represent.triplet.batch_size is 10" in proc.stderr and "Traceback" not in proc.stderr
