"""End to end: `dvc repro` of the transfer pipeline on smoke params in a temporary repo; the pretrained
backbone stays cached when the target changes; the real ants/bees subset through the path and url
sources; bad input stops the data stage with nothing written."""
from __future__ import annotations

import hashlib
import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from stages.core.classify import predict
from stages.transfer.images import load_split, make_transforms, stack
from stages.transfer.params import TransformParams
from stages.transfer.training import load_classifier
from tests.conftest import SHARED_DATA, run_env, serve_directory
from tests.transfer.smoke import SMOKE

ALL = {"transfer-data", "transfer-pretrain", "transfer-scratch", "transfer-train", "transfer-finetune",
       "transfer-evaluate", "transfer-explain"}
TARGETS = ("transfer-evaluate", "transfer-explain")
HYMENOPTERA = SHARED_DATA / "hymenoptera"


def finetune_predictions(repo) -> list[str]:
    """The fine-tuned model's validation predictions, recomputed from the saved state on the CPU."""
    import yaml

    t = TransformParams.model_validate(yaml.safe_load((repo.path / "params.yaml").read_text())["transfer"]["transform"])
    images, _, _, classes = load_split(repo.path / "data/transfer/target", "val")
    net, _ = load_classifier(repo.path / "artifacts/transfer/finetune/model.pt", torch.device("cpu"))  # map_location
    probs = predict(net, stack(images, make_transforms(t)[1]), torch.device("cpu"), probabilities=True)  # as transfer-evaluate
    return [classes[i] for i in probs.argmax(1).tolist()]


@pytest.mark.e2e
@pytest.mark.slow(75)
def test_dvc_repro_transfer_then_target_changes_keep_the_backbone(temp_repo, tmp_path):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", *TARGETS))) == ALL

    metrics = json.loads((repo.path / "artifacts/transfer/evaluate/metrics.json").read_text())
    k, n_val = SMOKE["transfer.data.train_per_class"], SMOKE["transfer.data.val_per_class"]
    assert metrics["n_val"] == 5 * n_val and metrics["classes"] == ["5", "6", "7", "8", "9"]
    assert set(metrics["comparison"]) == {"scratch", "transfer", "finetune"}
    accs = {v: m["val_accuracy"] for v, m in metrics["comparison"].items()}
    assert metrics["transfer_gain"] == pytest.approx(accs["transfer"] - accs["scratch"])
    confusion = pd.read_csv(repo.path / "artifacts/transfer/evaluate/confusion.csv", dtype=str)
    assert np.mean(confusion["actual"] == confusion["predicted"]) == pytest.approx(accs["finetune"])
    # the saved state dict loads on the CPU (map_location) and predicts what the evaluation counted
    assert finetune_predictions(repo) == confusion["predicted"].tolist()
    if torch.cuda.is_available():
        load_classifier(repo.path / "artifacts/transfer/finetune/model.pt", torch.device("cuda"))
    for variant, trainable in (("scratch", "all"), ("train", "some"), ("finetune", "all")):
        m = json.loads((repo.path / f"artifacts/transfer/{variant}/metrics.json").read_text())
        assert m["n_train"] == 5 * k and m["epochs"] == SMOKE["transfer.train.epochs"]
    assert json.loads((repo.path / "artifacts/transfer/train/metrics.json").read_text())["trainable_parameters"] < \
        json.loads((repo.path / "artifacts/transfer/finetune/metrics.json").read_text())["trainable_parameters"]
    backbone = repo.path / "artifacts/transfer/pretrain/backbone.pth"
    info = json.loads(backbone.with_suffix(".json").read_text())
    assert info["sha256"] == hashlib.sha256(backbone.read_bytes()).hexdigest() and info["classes"] == ["0", "1", "2", "3", "4"]
    predictions = json.loads((repo.path / "artifacts/transfer/explain/predictions.json").read_text())
    assert predictions["backbone"]["top"][0][0] in info["classes"] and len(predictions["gradcam"]) >= 1
    history = pd.read_csv(repo.path / "artifacts/transfer/finetune/history.csv")
    assert history["val_accuracy"].notna().all()
    for png in ("evaluate/confusion.png", "evaluate/curves.png", "explain/gradcam.png"):
        assert (repo.path / "artifacts/transfer" / png).stat().st_size > 0

    assert repo.ran_stages(repo.dvc("repro", *TARGETS)) == []
    if not HYMENOPTERA.is_dir():  # a target param: everything downstream of the data reruns, the backbone does not
        repo.set_param("transfer.data.train_per_class", k + 1)
        assert set(repo.ran_stages(repo.dvc("repro", "transfer-finetune"))) == {"transfer-data", "transfer-finetune"}
        assert set(repo.ran_stages(repo.dvc("repro", "--dry", *TARGETS))) == ALL - {"transfer-data", "transfer-pretrain", "transfer-finetune"}
        pytest.skip(f"{HYMENOPTERA} not present: the real ants/bees checks are skipped")

    # the real ants/bees subset through the path source: a target change, so the cached backbone stays
    repo.set_param("transfer.data.source", "path")
    repo.set_param("transfer.data.path", [str(HYMENOPTERA)])
    repo.set_param("transfer.data.train_per_class", None)
    repo.set_param("transfer.data.val_per_class", None)
    assert set(repo.ran_stages(repo.dvc("repro", "transfer-finetune"))) == {"transfer-data", "transfer-finetune"}
    metrics = json.loads((repo.path / "artifacts/transfer/finetune/metrics.json").read_text())
    assert metrics["classes"] == ["ants", "bees"] and (metrics["n_train"], metrics["n_val"]) == (60, 30)
    assert 0.0 <= metrics["val_accuracy"] <= 1.0  # near chance at smoke size: docs/transfer.md has a real run
    assert set(repo.ran_stages(repo.dvc("repro", "--dry", *TARGETS))) == ALL - {"transfer-data", "transfer-pretrain", "transfer-finetune"}
    path_files = sorted(p.relative_to(repo.path / "data/transfer/target").as_posix()
                        for p in (repo.path / "data/transfer/target").rglob("*") if p.is_file())

    # the same subset zipped and served over 127.0.0.1: the url source gives the same images
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "hymenoptera_data.zip", "w") as z:
        for f in sorted(HYMENOPTERA.rglob("*")):
            if f.is_file():
                z.write(f, "hymenoptera_data/" + f.relative_to(HYMENOPTERA).as_posix())
    digest = hashlib.sha256((site / "hymenoptera_data.zip").read_bytes()).hexdigest()
    env = run_env(REPROLAB_CACHE=str(tmp_path / "cache"))
    with serve_directory(site) as url:
        repo.set_param("transfer.data.source", "url")
        repo.set_param("transfer.data.url", f"{url}/hymenoptera_data.zip")
        repo.set_param("transfer.data.sha256", "0" * 64)
        bad = repo.python("-m", "stages.transfer.data", check=False, env=env)
        assert bad.returncode == 2 and "checksum mismatch" in bad.stderr
        repo.set_param("transfer.data.sha256", digest)
        repo.python("-m", "stages.transfer.data", env=env)
    assert sorted(p.relative_to(repo.path / "data/transfer/target").as_posix()
                  for p in (repo.path / "data/transfer/target").rglob("*") if p.is_file()) == path_files

    # bad input: a corrupt image stops the stage, naming it, before anything is written
    broken = tmp_path / "broken"
    shutil.copytree(HYMENOPTERA, broken)
    victim = sorted((broken / "val" / "bees").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:100])
    shutil.rmtree(repo.path / "data/transfer")
    repo.set_param("transfer.data.source", "path")
    repo.set_param("transfer.data.path", [str(broken)])
    bad = repo.python("-m", "stages.transfer.data", check=False)
    assert bad.returncode == 2 and f"{victim}: not a readable image" in bad.stderr
    assert not (repo.path / "data/transfer").exists() or not any((repo.path / "data/transfer").iterdir())
