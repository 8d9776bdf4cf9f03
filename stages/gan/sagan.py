"""Stage `gan-sagan`: train a Self-Attention GAN (spectral norm, hinge loss) on the normal digits.

Outputs: the checkpoint, per-epoch loss curves for `dvc plots`, training metrics, and generated
images beside their attention maps: for each attention module of the generator, where the centre
pixel of its feature map looks (brighter = more weight), shown at that module's resolution.
"""
from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from stages.core.distributed import launch
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.training import finish_training, setup_torch
from stages.gan import params
from stages.gan.training import generate, train_stage

log = logging.getLogger(__name__)

N_SHOW = 6


def centre_attention(maps: torch.Tensor) -> np.ndarray:
    """Attention maps (B, N, N) → (B, h, w): the weights the centre query position gives every key position."""
    b, n, _ = maps.shape
    side = int(round(n ** 0.5))
    assert side * side == n, f"attention over a non-square map: N = {n}"
    centre = (side // 2) * side + side // 2
    return maps[:, centre, :].reshape(b, side, side).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="training digits (npz from gan-digits)")
    ap.add_argument("--model", required=True, help="checkpoint (.pt)")
    ap.add_argument("--history", required=True, help="per-epoch losses (CSV)")
    ap.add_argument("--metrics", required=True, help="training metrics (JSON)")
    ap.add_argument("--figure", required=True, help="generated images and attention maps (PNG)")
    args = ap.parse_args()

    p, common = params.load().sagan, load_common()
    launch(p.nproc_per_node, "stages.gan.sagan")  # N > 1: this command again under torchrun
    device = setup_torch(common.seed, common.device)
    trainer, real = train_stage("gan-sagan", "sagan", args.train, p, common.seed, device)
    fake, maps = generate(trainer.models["g"], N_SHOW, p.z_dim, common.seed, device)
    rows = [("generated", fake[:, 0].numpy())]
    for m in maps:
        att = centre_attention(m)
        rows.append((f"attention {att.shape[-1]}x{att.shape[-1]} (centre query)", att))
    fig = _attention_figure(rows)
    gammas = {name: mod.gamma.item() for name, mod in trainer.models["g"].attn.items()}
    finish_training("gan-sagan", trainer, model=args.model, history=args.history, metrics=args.metrics,
                    extra={"n_train": len(real), "image_size": real.shape[-1], "device": device.type,
                           "generator_attention_gamma": gammas},
                    figures={args.figure: fig})


def _attention_figure(rows: list[tuple[str, np.ndarray]]):
    """Generated images (gray, [-1, 1]) above attention maps (each scaled to its own range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n, 1.35 * len(rows)), squeeze=False)
    for r, (title, arr) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if r == 0:
                ax.imshow(arr[c], cmap="gray", vmin=-1, vmax=1)
            else:
                ax.imshow(arr[c], cmap="magma")
        axes[r][0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_stage(main)
