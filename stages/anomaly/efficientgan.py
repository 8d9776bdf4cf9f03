"""Stage `anomaly-efficientgan`: train an Efficient GAN (generator, encoder, discriminator on (x, z))
on the normal digits.

Outputs: the checkpoint, per-epoch loss curves for `dvc plots` and training metrics. A killed run
resumes from its last epoch checkpoint when rerun with the same params and data.
"""
from __future__ import annotations

import logging

import torch

from stages.anomaly import params
from stages.anomaly.nets import EfficientGanConfig, build
from stages.anomaly.objectives import BiGan
from stages.anomaly.params import EfficientGanParams
from stages.core.distributed import launch
from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import Trainer, adam_trainer, finish_training, fit_resumable, setup_torch
from stages.core.digits import load_digits_npz

log = logging.getLogger(__name__)

STAGE = "anomaly-efficientgan"


def make_trainer(image_size: int, efficientgan_params: EfficientGanParams, *, seed: int, device: torch.device, key: str = "",
                 resume=None) -> Trainer:
    """A trainer with freshly initialised networks (call after seeding)."""
    cfg = EfficientGanConfig(image_size=image_size, z_dim=efficientgan_params.z_dim, channels=efficientgan_params.channels)
    g, e, d = build(cfg.as_dict())
    return adam_trainer(kind="efficientgan", nets={"g": g, "e": e, "d": d},
                        lrs={"d": efficientgan_params.lr_d, "g": efficientgan_params.lr_ge, "e": efficientgan_params.lr_ge},
                        objective=lambda nets: BiGan(nets["g"], nets["e"], nets["d"], efficientgan_params.z_dim),
                        model_args=cfg.as_dict(), p=efficientgan_params, seed=seed, device=device, key=key, resume=resume,
                        desc=STAGE)


def main(stage: Declared) -> None:
    efficientgan_params, common = params.load().efficientgan, load_common()
    launch(efficientgan_params.nproc_per_node, "stages.anomaly.efficientgan")  # N > 1: this command again under torchrun
    device = setup_torch(common.seed, common.device)
    images = torch.from_numpy(load_digits_npz(stage.dep("train.npz"))["images"])
    trainer = fit_resumable(
        STAGE, lambda key, resume: make_trainer(images.shape[-1], efficientgan_params, seed=common.seed, device=device, key=key,
                                                resume=resume),
        images, params=efficientgan_params.model_dump(mode="json"), seed=common.seed, device=device,
        inputs={"train": sha256_file(stage.dep("train.npz"))})
    finish_training(stage.name, trainer, outputs=stage.outputs, model=stage.out("model.pt"), history=stage.out("history.csv"), metrics=stage.out("metrics.json"),
                    extra={"n_train": len(images), "image_size": images.shape[-1], "device": device.type})


if __name__ == "__main__":
    run_stage(main)
