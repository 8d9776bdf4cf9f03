"""Multi-process training: ``torchrun --nproc_per_node 2`` (gloo, CPU) through the stage launcher."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from stages.core.checkpoint import load_checkpoint
from tests.conftest import ROOT, run_env

pytestmark = pytest.mark.e2e  # training subprocesses, torchrun with two ranks


def run(work, nproc: int, **extra: str) -> subprocess.CompletedProcess:
    env = run_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    return subprocess.run([sys.executable, "-m", "tests.core.ddp_train", str(work), str(nproc)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_two_processes_train_end_to_end_with_identical_weights_and_rank0_outputs(tmp_path):
    proc = run(tmp_path, 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / "weights" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for part in ("net", "ema"):  # parameters (averaged gradients) and buffers (rank 0's BatchNorm statistics)
        assert ranks[0][part].keys() == ranks[1][part].keys()
        for name, tensor in ranks[0][part].items():
            assert torch.equal(tensor, ranks[1][part][name]), f"{part}.{name} differs between ranks"
    # rank 0's outputs are complete; rank 1 wrote nothing (its folder is empty)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["history.csv", "metrics.json", "model.pt"]
    assert not any((tmp_path / "rank1").iterdir())
    ckpt = load_checkpoint(tmp_path / "out" / "model.pt", kind="classifier")
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 4 and len(ckpt["rng"]) == 2
    assert all(torch.equal(t, ranks[0]["net"][n]) for n, t in ckpt["models"]["net"].items())
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["val_accuracy"] > 0.9  # the blobs are separable: it really learned
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss_net,lr_net,val_loss,val_accuracy" and len(history) == 5
    record = json.loads((tmp_path / ".reprolab" / "runs" / "classifier.json").read_text())
    assert record["processes"] == 2 and record["images_per_s"] > 0
    assert not (tmp_path / "ckpt").exists(), "the resume checkpoint is removed once the outputs are written"


def test_one_process_runs_the_same_code_without_torchrun(tmp_path):
    proc = run(tmp_path, 1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch.distributed.run" not in proc.stderr
    ckpt = load_checkpoint(tmp_path / "out" / "model.pt", kind="classifier")
    assert ckpt["world_size"] == 1 and len(ckpt["rng"]) == 1


def test_a_nan_loss_on_one_rank_stops_every_rank_naming_the_step_with_nothing_written(tmp_path):
    proc = run(tmp_path, 2, DDP_NAN_AT="1:9")  # rank 1's 9th loss: epoch 2 (6 batches an epoch), its 2nd update
    assert proc.returncode != 0
    assert "ddp: loss_net is not finite (NaN or inf) at epoch 2 of 4, step 2 of 3" in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "weights").exists()
