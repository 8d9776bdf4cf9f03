"""Stage `diffusion-judge`: the classifier whose features measure sample quality (FID, validity).

Trained with the core Trainer on the real training images only (cross-entropy); its accuracy on the
held-out images is reported, so a judge too weak to tell digits apart shows. Cached by DVC: sampler
changes never retrain it.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TensorData, adam_trainer, finish_training, fit_resumable, setup_torch
from stages.diffusion import params
from stages.diffusion.images import load_images_npz
from stages.diffusion.quality import Judge, JudgeConfig

log = logging.getLogger(__name__)


class Classification:
    """Cross-entropy of a (images, labels) batch: one update step, ``judge``."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def steps(self):
        return [("judge", lambda batch: F.cross_entropy(self.net(batch[0]), batch[1]))]


def main(stage: Declared) -> None:
    judge_params, common = params.load().judge, load_common()
    device = setup_torch(common.seed, common.device)
    images, labels = (torch.from_numpy(a) for a in load_images_npz(stage.dep("train.npz")))
    held, held_labels = (torch.from_numpy(a) for a in load_images_npz(stage.dep("heldout.npz")))
    cfg = JudgeConfig(in_channels=images.shape[1], image_px=images.shape[-1], channels=judge_params.channels,
                      features=judge_params.features, classes=int(max(labels.max(), held_labels.max())) + 1)

    def make(key, resume):
        net = Judge(cfg)  # adam_trainer moves it in place, so the validation step sees the trained weights
        return adam_trainer(kind="diffusion-judge", nets={"judge": net}, lrs={"judge": judge_params.lr},
                            objective=lambda nets: Classification(nets["judge"]), model_args=cfg.as_dict(), p=judge_params,
                            seed=common.seed, device=device, key=key, resume=resume, desc=stage.name,
                            val_step=lambda b: {"val_accuracy": (net(b[0]).argmax(1) == b[1]).float().mean()})

    trainer = fit_resumable(stage.name, make, TensorData(images, labels), params=judge_params.model_dump(mode="json"),
                            seed=common.seed, device=device, val=TensorData(held, held_labels),
                            inputs={"train": sha256_file(stage.dep("train.npz")), "heldout": sha256_file(stage.dep("heldout.npz"))})
    finish_training(stage.name, trainer, outputs=stage.outputs, model=stage.out("model.pt"), history=stage.out("history.csv"),
                    metrics=stage.out("metrics.json"), extra={"n_train": len(images), "n_heldout": len(held)})


if __name__ == "__main__":
    run_stage(main)
