"""Stage `diffusion-train`: DDPM training (Algorithm 1) of the ε-prediction U-Net, with an EMA copy.

The core training stage runs the loop (the recipe's Adam, linear LR warm-up, gradient clipping,
EMA of the weights, resume); the objective is :func:`stages.diffusion.schedule.ddpm_loss`. The checkpoint carries the U-Net's
config and the β schedule's params, so `diffusion-sample` rebuilds both and refuses a mismatch. Outputs:
the checkpoint, per-epoch loss curve, metrics. Samplers are not run here: changing them never retrains.
"""
from __future__ import annotations

import logging

import torch

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.diffusion import params
from stages.diffusion.images import load_images_npz
from stages.diffusion.params import TrainParams
from stages.diffusion.schedule import Schedule, ddpm_loss, make_schedule
from stages.diffusion.unet import UNet, UNetConfig

log = logging.getLogger(__name__)

KIND = "ddpm"


class DDPMObjective:
    """Algorithm 1 on a batch of images x_0: one update step, ``unet``."""

    def __init__(self, net: torch.nn.Module, schedule: Schedule) -> None:
        self.net, self.schedule = net, schedule

    def steps(self):
        return [("unet", lambda x0: ddpm_loss(self.net, self.schedule, x0))]


def unet_config(train_params: TrainParams, in_channels: int, image_px: int) -> UNetConfig:
    return UNetConfig(image_px=image_px, in_channels=in_channels, ch=train_params.ch, ch_mult=tuple(train_params.ch_mult),
                      num_res_blocks=train_params.num_res_blocks, attn_resolutions=tuple(train_params.attn_resolutions),
                      dropout=train_params.dropout)


def ddpm_parts(train_params: TrainParams, cfg: UNetConfig) -> dict:
    """What the run declares: the U-Net, Algorithm 1's loss under the β schedule, the U-Net's config."""
    schedule = make_schedule(train_params.schedule, train_params.beta_1, train_params.beta_T, train_params.timesteps)
    return {"models": lambda: {"unet": UNet(cfg)}, "model_args": cfg.as_dict(),
            "objective": lambda nets: DDPMObjective(nets["unet"], schedule)}


def main(stage: Declared) -> None:
    train_params = params.load().train
    run = TrainingRun(stage, train_params, kind=KIND)
    images = torch.from_numpy(load_images_npz(stage.dep("train.npz"))[0])
    cfg = unet_config(train_params, images.shape[1], images.shape[-1])
    trainer = run.fit(**ddpm_parts(train_params, cfg), data=images, inputs={"train": stage.dep("train.npz")})
    n_params = sum(x.numel() for x in trainer.models["unet"].parameters())
    run.finish(extra={"n_train": len(images), "parameters": n_params,
                      "updates": trainer.epoch * (len(images) // min(train_params.batch_size, len(images)))})


if __name__ == "__main__":
    run_stage(main)
