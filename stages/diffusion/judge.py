"""Stage `diffusion-judge`: the classifier whose features measure sample quality (FID, validity).

Trained on the core training stage on the real training images only (cross-entropy); its accuracy on the
held-out images is reported, so a judge too weak to tell digits apart shows. Cached by DVC: sampler
changes never retrain it.
"""
from __future__ import annotations

import logging

import torch

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.batches import TensorData
from stages.core.classify import Classification
from stages.core.training import TrainingRun
from stages.diffusion import params
from stages.diffusion.images import load_images_npz
from stages.diffusion.quality import Judge, JudgeConfig

log = logging.getLogger(__name__)


def judge_parts(cfg: JudgeConfig) -> dict:
    """What the run declares: the judge, its cross-entropy objective and accuracy validation step, its config."""

    return {"models": lambda: {"judge": Judge(cfg)}, "model_args": cfg.as_dict(),
            "objective": lambda nets: Classification(nets["judge"], step="judge"),
            "val_step": lambda nets: Classification(nets["judge"], step="judge").validate}


def main(stage: Declared) -> None:
    judge_params = params.load().judge
    run = TrainingRun(stage, judge_params, kind="diffusion-judge")
    images, labels = (torch.from_numpy(a) for a in load_images_npz(stage.dep("train.npz")))
    held, held_labels = (torch.from_numpy(a) for a in load_images_npz(stage.dep("heldout.npz")))
    cfg = JudgeConfig(in_channels=images.shape[1], image_px=images.shape[-1], channels=judge_params.channels,
                      features=judge_params.features, classes=int(max(labels.max(), held_labels.max())) + 1)

    run.fit(**judge_parts(cfg), data=TensorData(images, labels), val=TensorData(held, held_labels),
            inputs={"train": stage.dep("train.npz"), "heldout": stage.dep("heldout.npz")})
    run.finish(extra={"n_train": len(images), "n_heldout": len(held)})


if __name__ == "__main__":
    run_stage(main)
