"""Stage `gan-sagan`: train a Self-Attention GAN (spectral norm, hinge loss) on the normal digits.

Outputs: the checkpoint, per-epoch loss curves for `dvc plots`, training metrics, and generated
images beside their attention maps: for each attention module of the generator, where the centre
pixel of its feature map looks (brighter = more weight), shown at that module's resolution.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.gan import params
from stages.gan.training import generate, train_gan

log = logging.getLogger(__name__)

N_SHOW = 6


def centre_attention(maps: torch.Tensor) -> np.ndarray:
    """Attention maps (B, N, N) → (B, h, w): the weights the centre query position gives every key position."""
    b, n, _ = maps.shape
    side = int(round(n ** 0.5))
    assert side * side == n, f"attention over a non-square map: N = {n}"
    centre = (side // 2) * side + side // 2
    return maps[:, centre, :].reshape(b, side, side).numpy()


def main(stage: Declared) -> None:
    sagan_params = params.load().sagan
    run = TrainingRun(stage, sagan_params, kind="sagan")
    trainer, real = train_gan(run, sagan_params, stage.dep("train.npz"))
    fake, maps = generate(trainer.models["g"], N_SHOW, sagan_params.z_dim, run.seed, run.device)
    rows = [("generated", fake[:, 0].numpy())]
    for m in maps:
        att = centre_attention(m)
        rows.append((f"attention {att.shape[-1]}x{att.shape[-1]} (centre query)", att))
    fig = _attention_figure(rows)
    gammas = {name: mod.gamma.item() for name, mod in trainer.models["g"].attn.items()}
    run.finish(extra={"n_train": len(real), "image_size": real.shape[-1], "device": run.device.type,
                           "generator_attention_gamma": gammas},
                    figures={stage.out("attention.png"): fig})


def _attention_figure(rows: list[tuple[str, np.ndarray]]):
    """Generated images (gray, [-1, 1]) above attention maps, with a colour bar per attention row.

    All maps of one row share a colour scale from 0 to the row's largest weight, so the colour bar
    reads as attention weight (each map sums to 1 over its positions) and maps can be compared.
    """
    n = len(rows[0][1])
    fig, axes = new_figure(len(rows), n, figsize=(1.2 * n + 0.9, 1.35 * len(rows)), squeeze=False, layout="constrained")
    for r, (title, arr) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if r == 0:
                ax.imshow(arr[c], cmap="gray", vmin=-1, vmax=1)
            else:
                image = ax.imshow(arr[c], cmap="magma", vmin=0.0, vmax=float(arr.max()) or 1.0)
        axes[r][0].set_title(title, fontsize=8, loc="left")
        if r > 0:
            bar = fig.colorbar(image, ax=list(axes[r]), shrink=0.9, pad=0.02)
            bar.ax.tick_params(labelsize=6)
            bar.set_label("weight", fontsize=7)
    return fig

if __name__ == "__main__":
    run_stage(main)
