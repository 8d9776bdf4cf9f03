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
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.digits import load_digits_npz
from stages.core.training import TrainingRun

log = logging.getLogger(__name__)


def efficientgan_parts(efficientgan_params: EfficientGanParams, image_size: int) -> dict:
    """What the run declares: the three networks, the BiGAN objective, their config."""
    cfg = EfficientGanConfig(image_size=image_size, z_dim=efficientgan_params.z_dim, channels=efficientgan_params.channels)
    return {"models": lambda: dict(zip(("g", "e", "d"), build(cfg.as_dict()))), "model_args": cfg.as_dict(),
            "objective": lambda nets: BiGan(nets["g"], nets["e"], nets["d"], efficientgan_params.z_dim)}


def main(stage: Declared) -> None:
    efficientgan_params = params.load().efficientgan
    run = TrainingRun(stage, efficientgan_params, kind="efficientgan")
    images = torch.from_numpy(load_digits_npz(stage.dep("train.npz"))["images"])
    run.fit(**efficientgan_parts(efficientgan_params, images.shape[-1]), data=images, inputs={"train": stage.dep("train.npz")})
    run.finish(extra={"n_train": len(images), "image_size": images.shape[-1], "device": run.device.type})


if __name__ == "__main__":
    run_stage(main)
