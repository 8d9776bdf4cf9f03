"""Stage `diffusion-train`: DDPM training (Algorithm 1) of the ε-prediction U-Net, with an EMA copy.

The core Trainer runs the loop (Adam, linear LR warm-up, gradient clipping, EMA of the weights,
resume); the objective is :func:`stages.diffusion.schedule.ddpm_loss`. The checkpoint carries the U-Net's
config and the β schedule's params, so `diffusion-sample` rebuilds both and refuses a mismatch. Outputs:
the checkpoint, per-epoch loss curve, metrics. Samplers are not run here: changing them never retrains.
"""
from __future__ import annotations

import logging

import torch

from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import adam_trainer, finish_training, fit_resumable, setup_torch
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


def make_trainer(train_params: TrainParams, cfg: UNetConfig, *, seed: int, device, key: str = "", resume=None,
                 desc: str = "ddpm"):
    """A trainer for a freshly initialised U-Net (call after seeding), LR warm-up as in the DDIM code."""
    net = UNet(cfg)
    schedule = make_schedule(train_params.schedule, train_params.beta_1, train_params.beta_T, train_params.timesteps)
    trainer = adam_trainer(kind=KIND, nets={"unet": net}, lrs={"unet": train_params.lr},
                           objective=lambda nets: DDPMObjective(nets["unet"], schedule), model_args=cfg.as_dict(), p=train_params,
                           seed=seed, device=device, key=key, resume=resume, desc=desc, ema_decay=train_params.ema_decay,
                           clip_grad_norm=train_params.grad_clip)
    if train_params.warmup_steps:
        opt = trainer.optimizers["unet"]
        trainer.schedulers["unet"] = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: min(1.0, (step + 1) / train_params.warmup_steps))
    return trainer


def main(stage: Declared) -> None:
    train_params, common = params.load().train, load_common()
    device = setup_torch(common.seed, common.device)
    images = torch.from_numpy(load_images_npz(stage.dep("train.npz"))[0])
    cfg = unet_config(train_params, images.shape[1], images.shape[-1])
    trainer = fit_resumable(stage.name, lambda key, resume: make_trainer(train_params, cfg, seed=common.seed, device=device,
                                                                         key=key, resume=resume, desc=stage.name),
                            images, params=train_params.model_dump(mode="json"), seed=common.seed, device=device,
                            inputs={"train": sha256_file(stage.dep("train.npz"))})
    n_params = sum(x.numel() for x in trainer.models["unet"].parameters())
    finish_training(stage.name, trainer, outputs=stage.outputs, model=stage.out("model.pt"), history=stage.out("history.csv"),
                    metrics=stage.out("metrics.json"),
                    extra={"n_train": len(images), "parameters": n_params,
                           "updates": trainer.epoch * (len(images) // min(train_params.batch_size, len(images)))})


if __name__ == "__main__":
    run_stage(main)
