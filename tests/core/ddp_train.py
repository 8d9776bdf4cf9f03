"""Trains a small classifier with every Trainer option, on 1..N processes; run by tests/core/test_trainer_ddp.py.

    python -m tests.core.ddp_train WORK NPROC

Re-runs itself under torchrun (``stages.core.distributed.launch``) when NPROC > 1, as a stage does.
With ``DDP_NAN_AT=<rank>:<call>``, that rank's loss is NaN at that call (the run must stop on every rank).
Rank 0 works in WORK; every other rank in WORK/rank<r>, which it must leave empty (rank 0 alone writes
outputs, checkpoints and run records; all their paths are relative). Each rank saves its final weights
to WORK/weights/rank<r>.pt for the test to compare.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stages.core.distributed import from_env, launch
from stages.core.runtime import setup_logging
from stages.core.batches import TensorData
from stages.core.device import setup_torch
from stages.core.trainer import Trainer
from stages.core.training import finish_training


class Classify:
    """Cross-entropy of a classifier on dict batches ``{"x": (B, 8), "y": (B,)}``."""

    def __init__(self, net: nn.Module, nan_at: int | None = None) -> None:
        self.net, self.nan_at, self.calls = net, nan_at, 0

    def steps(self):
        return [("net", self.loss)]

    def loss(self, batch):
        self.calls += 1
        loss = F.cross_entropy(self.net(batch["x"]), batch["y"])
        return loss * float("nan") if self.calls == self.nan_at else loss


def blobs(n: int, seed: int) -> TensorData:
    """Two Gaussian blobs in 8-D, labelled 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) + (y[:, None] * 2 - 1) * 1.5
    return TensorData(x, y, names=("x", "y"))


def main() -> None:
    work, nproc = Path(sys.argv[1]).resolve(), int(sys.argv[2])
    launch(nproc, "tests.core.ddp_train")
    rank = from_env().rank
    own = work if rank == 0 else work / f"rank{rank}"
    own.mkdir(parents=True, exist_ok=True)
    os.chdir(own)
    device = setup_torch(0, "cpu")
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 5))  # warm-up
    model = net
    nan_rank, _, nan_call = os.environ.get("DDP_NAN_AT", "-1:0").partition(":")
    nan_at = int(nan_call) if int(nan_rank) == rank else None

    def val_step(batch):
        logits = model(batch["x"])
        return {"val_loss": F.cross_entropy(logits, batch["y"]), "val_accuracy": (logits.argmax(1) == batch["y"]).float().mean()}

    trainer = Trainer(models={"net": net}, optimizers={"net": opt}, objective=lambda nets: Classify(nets["net"], nan_at),
                      kind="classifier", model_args={"hidden": 16}, params={"nproc": nproc}, epochs=4, batch_size=8,
                      device=device, precision="bf16", seed=0, key="ddp", resume=Path("ckpt/last.pt"), desc="ddp",
                      schedulers={"net": sched}, clip_grad_norm=1.0, accumulate=2, ema_decay=0.9, val_step=val_step)
    trainer.fit(blobs(96, 1), blobs(30, 2))
    (work / "weights").mkdir(exist_ok=True)
    torch.save({"net": net.state_dict(), "ema": trainer.ema_model("net").state_dict()}, work / "weights" / f"rank{rank}.pt")
    finish_training("classifier", trainer, model="out/model.pt", history="out/history.csv", metrics="out/metrics.json")


if __name__ == "__main__":
    setup_logging()  # not run_stage: this test script is no dvc.yaml stage and takes arguments
    main()
