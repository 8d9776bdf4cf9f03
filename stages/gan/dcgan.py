"""Stage `gan-dcgan`: train a DCGAN on the normal digits.

Outputs: the checkpoint (self-describing, loads on a CPU), per-epoch loss curves for `dvc plots`,
training metrics, and a grid of real images above generated ones. A killed run resumes from its
last epoch checkpoint when rerun with the same params and data (see stages.core.training).
"""
from __future__ import annotations

import logging

import torch

from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import setup_torch, write_outputs
from stages.gan import params
from stages.gan.training import generate, image_rows, train_stage

log = logging.getLogger(__name__)

N_SHOW = 8


def main(stage: Declared) -> None:
    p, common = params.load().dcgan, load_common()
    device = setup_torch(common.seed, common.device)
    trainer, real = train_stage("gan-dcgan", "dcgan", stage.dep("train.npz"), p, common.seed, device)
    fake, _ = generate(trainer.models["g"], N_SHOW, p.z_dim, common.seed, device)
    spread = torch.linspace(0, len(real) - 1, N_SHOW).long()  # every digit, not just the first one
    fig = image_rows([("real", real[spread, 0].numpy()), ("generated", fake[:, 0].numpy())])
    with stage.outputs() as out:
        write_outputs(out, trainer, model=stage.out("model.pt"), history=stage.out("history.csv"), metrics=stage.out("metrics.json"),
                               extra={"n_train": len(real), "image_size": real.shape[-1], "device": device.type})
        out.figure(stage.out("samples.png"), fig)
    trainer.discard_resume()


if __name__ == "__main__":
    run_stage(main)
