"""Stage `gan-dcgan`: train a DCGAN on the normal digits.

Outputs: the checkpoint (self-describing, loads on a CPU), per-epoch loss curves for `dvc plots`,
training metrics, and a grid of real images above generated ones. A killed run resumes from its
last epoch checkpoint when rerun with the same params and data (see stages.core.training).
With ``gan.dcgan.nproc_per_node`` > 1 it trains with that many processes (torchrun, DDP).
"""
from __future__ import annotations

import logging

import torch

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.gan import params
from stages.gan.training import generate, image_rows, train_gan

log = logging.getLogger(__name__)

N_SHOW = 8


def main(stage: Declared) -> None:
    dcgan_params = params.load().dcgan
    run = TrainingRun(stage, dcgan_params, kind="dcgan")
    trainer, real = train_gan(run, dcgan_params, stage.dep("train.npz"))
    fake, _ = generate(trainer.models["g"], N_SHOW, dcgan_params.z_dim, run.seed, run.device)
    spread = torch.linspace(0, len(real) - 1, N_SHOW).long()  # every digit, not just the first one
    fig = image_rows([("real", real[spread, 0].numpy()), ("generated", fake[:, 0].numpy())])
    run.finish(extra={"n_train": len(real), "image_size": real.shape[-1], "device": run.device.type},
                    figures={stage.out("samples.png"): fig})


if __name__ == "__main__":
    run_stage(main)
