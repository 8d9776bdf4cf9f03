"""Stage `gan-dcgan`: train a DCGAN on the normal digits.

Outputs: the checkpoint (self-describing, loads on a CPU), per-epoch loss curves for `dvc plots`,
training metrics, and a grid of real images above generated ones. A killed run resumes from its
last epoch checkpoint when rerun with the same params and data (see stages.core.training).
With ``gan.dcgan.nproc_per_node`` > 1 it trains with that many processes (torchrun, DDP).
"""
from __future__ import annotations

import logging

import torch

from stages.core.distributed import launch
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import finish_training, setup_torch
from stages.gan import params
from stages.gan.training import generate, image_rows, train_stage

log = logging.getLogger(__name__)

N_SHOW = 8


def main(stage: Declared) -> None:
    dcgan_params, common = params.load().dcgan, load_common()
    launch(dcgan_params.nproc_per_node, "stages.gan.dcgan")  # N > 1: this command again under torchrun
    device = setup_torch(common.seed, common.device)
    trainer, real = train_stage("gan-dcgan", "dcgan", stage.dep("train.npz"), dcgan_params, common.seed, device)
    fake, _ = generate(trainer.models["g"], N_SHOW, dcgan_params.z_dim, common.seed, device)
    spread = torch.linspace(0, len(real) - 1, N_SHOW).long()  # every digit, not just the first one
    fig = image_rows([("real", real[spread, 0].numpy()), ("generated", fake[:, 0].numpy())])
    finish_training(stage.name, trainer, outputs=stage.outputs, model=stage.out("model.pt"), history=stage.out("history.csv"), metrics=stage.out("metrics.json"),
                    extra={"n_train": len(real), "image_size": real.shape[-1], "device": device.type},
                    figures={stage.out("samples.png"): fig})


if __name__ == "__main__":
    run_stage(main)
