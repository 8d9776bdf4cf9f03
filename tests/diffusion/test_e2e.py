"""End to end: `dvc repro` of the diffusion pipeline on smoke params; a sampler change never retrains."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.diffusion.smoke import SMOKE

STAGES = {"diffusion-data", "diffusion-judge", "diffusion-train", "diffusion-sample", "diffusion-evaluate"}


@pytest.mark.e2e
@pytest.mark.slow(100)
def test_dvc_repro_diffusion_then_a_sampler_change_reruns_sampling_only(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")

    first = repo.dvc("repro", "diffusion-evaluate")
    assert set(repo.ran_stages(first)) == STAGES
    settings = json.loads((repo.path / "artifacts/diffusion/sample/settings.json").read_text())
    n, T = SMOKE["diffusion.sample.n_samples"], SMOKE["diffusion.train.timesteps"]
    assert [s["evaluations"] for s in settings] == [T, 10, 20, 50, 100, 50]  # DDPM, then params.yaml's DDIM list
    with np.load(repo.path / "artifacts/diffusion/sample/samples.npz") as z:
        assert sorted(z.files) == sorted(s["name"] for s in settings)
        assert all(z[k].shape == (n, 1, 8, 8) and np.abs(z[k]).max() <= 1 for k in z.files)
    metrics = json.loads((repo.path / "artifacts/diffusion/evaluate/metrics.json").read_text())
    assert metrics["floor_fid"] >= 0 and metrics["ddpm"]["evaluations"] == T
    assert metrics["goal_ddim50"]["evaluation_ratio"] == T / 50
    hist = json.loads((repo.path / "artifacts/diffusion/evaluate/histograms.json").read_text())
    assert all(sum(h) == n for k, h in hist.items() if k != "heldout")
    record = json.loads((repo.path / ".reprolab/runs/diffusion-sample.json").read_text())  # wall clock lives here
    assert record["samplers"]["ddpm"]["seconds_per_sample"] > 0
    assert "seconds" not in json.dumps(metrics)
    model = (repo.path / "artifacts/diffusion/train/model.pt").read_bytes()

    repo.set_param("diffusion.sample.ddim", [{"steps": 10, "eta": 0.5, "skip": "uniform"}])
    again = repo.dvc("repro", "diffusion-evaluate")
    assert set(repo.ran_stages(again)) == {"diffusion-sample", "diffusion-evaluate"}
    assert (repo.path / "artifacts/diffusion/train/model.pt").read_bytes() == model
    assert "ddim_s10_eta0.5_uniform" in json.loads((repo.path / "artifacts/diffusion/evaluate/metrics.json").read_text())

