"""Stage `anomaly-anogan`: score the test digits with AnoGAN, reusing the DCGAN of `gan-dcgan`.

For each test image x, z is searched by gradient descent (Adam, ``anomaly.anogan.steps`` and ``lr``)
to minimise the anomaly score of x against G(z); the score at the end of the search is the image's
anomaly score: a digit the GAN never learned has no good G(z), so its score stays high. All test
images are searched together as one batch (each z only affects its own image's score); seconds per
image (the search's wall time divided by the number of images) goes to the run record
(``.reprolab/runs/anomaly-anogan.json``), not to an output: a time would change the output's hash.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from stages.anomaly import params
from stages.anomaly.objectives import anomaly_score
from stages.anomaly.params import AnoGanParams
from stages.anomaly.scores import scores_frame
from stages.core.checkpoint import load_models
from stages.core.digits import load_digits_npz
from stages.core.gan_nets import Discriminator, Generator, build
from stages.core.params import load_common
from stages.core.runs import write_run_record
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch

log = logging.getLogger(__name__)


def load_gan(path: str, device: torch.device, kind: str = "dcgan") -> tuple[Generator, Discriminator, dict]:
    """The trained generator and discriminator of a GAN checkpoint, in eval mode with frozen weights."""
    (g, d), ckpt = load_models(path, kind, lambda args: build(kind, args), ("g", "d"), device)
    return g, d, ckpt


def search_z(g: Generator, d: Discriminator, x: torch.Tensor, anogan_params: AnoGanParams, lam: float,
             seed: int) -> dict[str, torch.Tensor]:
    """AnoGAN's z search for a batch of images ``x`` (B, 1, S, S).

    Returns:
        ``z`` (B, z_dim), ``reconstruction`` G(z) (B, 1, S, S) and the per-image ``score``,
        ``residual`` and ``discrimination`` (B,) at the end of the search (all detached).
    """
    assert x.shape[-1] == g.cfg.image_size, f"test images are {x.shape[-1]}px but the GAN makes {g.cfg.image_size}px"
    z = torch.randn(len(x), g.cfg.z_dim, generator=torch.Generator().manual_seed(seed)).to(x.device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=anogan_params.lr)
    feat_x = d.features(x)  # (B, C, 4, 4), fixed during the search
    for _ in tqdm(range(anogan_params.steps), desc="anogan z search", unit="step", mininterval=1.0, leave=False):
        fake = g(z)
        loss = anomaly_score(x, fake, feat_x, d.features(fake), lam)["score"].sum()  # images are independent
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        fake = g(z)
        parts = anomaly_score(x, fake, feat_x, d.features(fake), lam)
    return {"z": z.detach(), "reconstruction": fake, **parts}


def main(stage: Declared) -> None:
    anomaly_params, common = params.load(), load_common()
    device = setup_torch(common.seed, common.device)
    test = load_digits_npz(stage.dep("test.npz"), ("images", "labels", "anomalous"))
    g, d, _ = load_gan(stage.dep("model.pt"), device)
    x = torch.from_numpy(test["images"]).to(device)
    start = time.perf_counter()
    result = search_z(g, d, x, anomaly_params.anogan, anomaly_params.score.lam, common.seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    with stage.outputs() as out:
        out.text(stage.out("scores.csv"), scores_frame(test["labels"], test["anomalous"], result).to_csv(index=False, float_format="%.6g"))
        out.npz(stage.out("reconstructions.npz"), images=result["reconstruction"].cpu().numpy(), z=result["z"].cpu().numpy())
    write_run_record(stage.name, {"seconds": seconds, "images": len(x), "seconds_per_image": seconds / len(x),
                                  "steps": anomaly_params.anogan.steps, "device": device.type},
                     outputs=[stage.out("scores.csv"), stage.out("reconstructions.npz")])
    log.info("AnoGAN: %d images scored in %.1f s (%.4f s/image)", len(x), seconds, seconds / len(x))


if __name__ == "__main__":
    run_stage(main)
