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
from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import Trainer, resume_path, run_key, setup_torch, write_outputs
from stages.gan.data import load_digits_npz

log = logging.getLogger(__name__)

STAGE = "anomaly-efficientgan"


def make_trainer(image_size: int, p: EfficientGanParams, *, seed: int, device: torch.device, key: str = "",
                 resume=None) -> Trainer:
    """A trainer with freshly initialised networks (call after seeding)."""
    cfg = EfficientGanConfig(image_size=image_size, z_dim=p.z_dim, channels=p.channels)
    g, e, d = (net.to(device) for net in build(cfg.as_dict()))
    return Trainer(
        models={"g": g, "e": e, "d": d},
        optimizers={"d": torch.optim.Adam(d.parameters(), p.lr_d, betas=p.betas),
                    "g": torch.optim.Adam(g.parameters(), p.lr_ge, betas=p.betas),
                    "e": torch.optim.Adam(e.parameters(), p.lr_ge, betas=p.betas)},
        objective=BiGan(g, e, d, p.z_dim), kind="efficientgan", model_args=cfg.as_dict(),
        params=p.model_dump(mode="json"), epochs=p.epochs, batch_size=p.batch_size, device=device, amp=p.amp,
        seed=seed, key=key, resume=resume, checkpoint_every=p.checkpoint_every, desc=STAGE,
    )


def main(stage: Declared) -> None:
    p, common = params.load().efficientgan, load_common()
    device = setup_torch(common.seed, common.device)
    images = torch.from_numpy(load_digits_npz(stage.dep("train.npz"))["images"])
    key = run_key(stage=STAGE, params=p.model_dump(mode="json"), seed=common.seed, data=sha256_file(stage.dep("train.npz")), device=device.type)
    trainer = make_trainer(images.shape[-1], p, seed=common.seed, device=device, key=key, resume=resume_path(STAGE, key))
    trainer.fit(images)
    with stage.outputs() as out:
        write_outputs(out, trainer, model=stage.out("model.pt"), history=stage.out("history.csv"), metrics=stage.out("metrics.json"),
                               extra={"n_train": len(images), "image_size": images.shape[-1], "device": device.type})
    trainer.discard_resume()


if __name__ == "__main__":
    run_stage(main)
