"""The course check's stand-ins for diffusion (``python -m pipelines course-check diffusion``).

The course downloads CIFAR-10's python tarball (md5-checked); offline, a tarball of the same layout
(photo crops, four training images per class) is served from 127.0.0.1. The DDIM code's CIFAR-10
U-Net (ch 128, ch_mult 1-2-2-2, attention at 16, 35.7M parameters), its optimiser, warm-up, EMA and
batch size stay, and so does the judge's architecture; images, epochs and samples shrink.

Two caps are not epochs or counts. Sampling costs one U-Net evaluation per step, 0.1-0.2 s for the
course's U-Net on a CPU core, so the course's DDPM over T = 1000 steps and DDIM at S = 10, 20, 50, 100
(and 50 with η = 1) would take four to eight minutes. The check uses T = 20 and DDIM at S = 10 with
η = 0 and with η = 1: the schedule, the time embedding and both samplers run the same code at the
same shapes; the course's larger S only repeat the same step.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "diffusion.data.heldout_per_class": 2,
    "diffusion.data.train_per_class": 1,  # one step of the U-Net on 10 images, not 40: the same shapes
    "diffusion.judge.epochs": 1,
    "diffusion.train.epochs": 1,
    "diffusion.train.timesteps": 20,
    "diffusion.sample.n_samples": 2,
    "diffusion.sample.ddim": [{"steps": 10, "eta": 0.0, "skip": "uniform"}, {"steps": 10, "eta": 1.0, "skip": "uniform"}],
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import cifar10_tarball

    cifar = kit.put("cifar-10-python.tar.gz", cifar10_tarball(train_per_class=4, test_per_class=1, seed=kit.seed))
    return {"diffusion.data.cifar10.url": cifar.url, "diffusion.data.cifar10.md5": cifar.md5}
