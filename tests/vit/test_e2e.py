"""End to end: `dvc repro` of the vit pipeline on the smoke profile in a temporary repo (no pretrained
weights: `vit-finetune` says so and trains nothing), a rerun that runs nothing, then `vit-finetune`
from a tiny torchvision ViT served on 127.0.0.1, which reruns neither the data nor the from-scratch
ViT, and whose model `vit-evaluate` and `vit-explain` then show too (a file that does not fit the architecture, or has another checksum, is refused:
tests/vit/test_pretrained.py)."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.models import VisionTransformer

from pipelines.profiles import overrides
from tests.conftest import ROOT, serve_directory

SMOKE = overrides("smoke", ["vit"], ROOT)
STAGES = {"vit-data", "vit-train", "vit-finetune", "vit-cnn-train", "vit-evaluate", "vit-explain"}


@pytest.mark.e2e
@pytest.mark.slow(120)
def test_dvc_repro_vit_smoke_then_fine_tune_from_served_weights(temp_repo, tmp_path, monkeypatch):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")

    assert set(repo.ran_stages(repo.dvc("repro", "vit-evaluate", "vit-explain"))) == STAGES
    with np.load(repo.path / "data/vit/data/test.npz") as z:
        labels = z["labels"]
    metrics = json.loads((repo.path / "artifacts/vit/evaluate/metrics.json").read_text())
    assert metrics["n_test"] == len(labels) == len(pd.read_csv(repo.path / "artifacts/vit/evaluate/confusion.csv"))
    for net in ("vit", "cnn"):
        m = metrics[net]
        assert 0 <= m["test_accuracy_low"] <= m["test_accuracy"] <= m["test_accuracy_high"] <= 1 and m["parameters"] > 0
    with np.load(repo.path / "artifacts/vit/explain/rollout.npz") as z:
        assert z["rollout"].shape == (SMOKE["vit.explain.images"], 4, 4) and np.allclose(z["rollout"].max(axis=(1, 2)), 1)
        assert "finetune_rollout" not in z.files
        assert z["position_similarity"].shape == (16, 16)
    finetune = repo.path / "artifacts/vit/finetune"
    assert json.loads((finetune / "source.json").read_text())["source"] == "none"
    assert sorted(p.name for p in finetune.iterdir()) == ["source.json"] and "finetune" not in metrics
    assert not list((repo.path / ".reprolab/checkpoints").glob("*/last.pt"))
    assert repo.ran_stages(repo.dvc("repro", "vit-evaluate", "vit-explain")) == []

    # fine-tune from a torchvision ViT of the smoke shape, served on 127.0.0.1 and checked by its sha256 prefix
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    torch.manual_seed(0)
    buf = io.BytesIO()
    shape = {k: SMOKE[f"vit.finetune.model.{k}"] for k in ("image_size", "num_patch_row", "num_blocks", "head", "emb_dim", "hidden_dim")}
    torch.save(VisionTransformer(image_size=shape["image_size"], patch_size=shape["image_size"] // shape["num_patch_row"],
                                 num_layers=shape["num_blocks"], num_heads=shape["head"], hidden_dim=shape["emb_dim"],
                                 mlp_dim=shape["hidden_dim"]).state_dict(), buf)
    (site / "tiny_vit-0000.pth").write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    scratch_model = (repo.path / "artifacts/vit/train/model.pt").read_bytes()
    with serve_directory(site) as url:
        repo.set_param("vit.finetune.weights", {"source": "url", "url": f"{url}/tiny_vit-0000.pth", "sha256": digest[:8]})
        assert set(repo.ran_stages(repo.dvc("repro", "vit-evaluate", "vit-explain"))) == {"vit-finetune", "vit-evaluate", "vit-explain"}
    tuned = json.loads((finetune / "metrics.json").read_text())
    assert tuned["pretrained"] == "url" and tuned["weights_sha256"] == digest
    assert hashlib.sha256((finetune / "pretrained/tiny_vit-0000.pth").read_bytes()).hexdigest() == digest
    assert json.loads((finetune / "source.json").read_text())["sha256"] == digest
    assert (repo.path / "artifacts/vit/train/model.pt").read_bytes() == scratch_model
    metrics = json.loads((repo.path / "artifacts/vit/evaluate/metrics.json").read_text())
    m = metrics["finetune"]
    assert 0 <= m["test_accuracy_low"] <= m["test_accuracy"] <= m["test_accuracy_high"] <= 1
    assert m["parameters"] == tuned["parameters"] and set(metrics["finetune_per_class"]) == set(metrics["vit_per_class"])
    with np.load(repo.path / "artifacts/vit/explain/rollout.npz") as z:
        assert z["finetune_rollout"].shape == z["rollout"].shape and np.allclose(z["finetune_rollout"].max(axis=(1, 2)), 1)
