"""What the two GAN stages share: building and training a GAN with the core trainer, sampling, image grids."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from stages.core.digits import load_digits_npz
from stages.core.figures import new_figure
from stages.core.gan_nets import GanConfig, build
from stages.core.io import sha256_file
from stages.core.training import Trainer, adam_trainer, fit_resumable
from stages.gan.objectives import BCEGan, HingeGan
from stages.gan.params import GanTrainParams

log = logging.getLogger(__name__)

OBJECTIVES = {"dcgan": BCEGan, "sagan": HingeGan}


def make_trainer(kind: str, image_size: int, train_params: GanTrainParams, *, seed: int, device: torch.device,
                 key: str = "", resume: Path | None = None, desc: str | None = None) -> Trainer:
    """A trainer with freshly initialised networks (call after seeding) for a ``dcgan`` or ``sagan``."""
    cfg = GanConfig(image_size=image_size, z_dim=train_params.z_dim, channels=train_params.channels)
    g, d = build(kind, cfg.as_dict())
    return adam_trainer(kind=kind, nets={"g": g, "d": d}, lrs={"d": train_params.lr_d, "g": train_params.lr_g},
                        objective=lambda nets: OBJECTIVES[kind](nets["g"], nets["d"], train_params.z_dim),
                        model_args=cfg.as_dict(), p=train_params, seed=seed, device=device, key=key, resume=resume, desc=desc)


def train_stage(stage: str, kind: str, train_path: str, train_params: GanTrainParams, seed: int,
                device: torch.device) -> tuple[Trainer, torch.Tensor]:
    """Train ``kind`` on the digits at ``train_path``, resuming a killed run of the same params and data."""
    images = torch.from_numpy(load_digits_npz(train_path)["images"])
    trainer = fit_resumable(
        stage, lambda key, resume: make_trainer(kind, images.shape[-1], train_params, seed=seed, device=device, key=key,
                                                resume=resume, desc=stage),
        images, params=train_params.model_dump(mode="json"), seed=seed, device=device, inputs={"train": sha256_file(train_path)})
    return trainer, images


@torch.no_grad()
def generate(g: torch.nn.Module, n: int, z_dim: int, seed: int, device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``n`` images from a fixed noise (its own generator: the figure does not depend on training's RNG)
    and, for SAGAN, the attention maps. Eval mode (BatchNorm running statistics)."""
    g.eval()
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    images, maps = g.forward_with_attention(z)
    return images.cpu(), [m.cpu() for m in maps]


def image_rows(rows: list[tuple[str, np.ndarray]], cmap: str = "gray", vmin=-1.0, vmax=1.0):
    """A figure with one labelled row per (title, (n, H, W) array)."""
    n = max(len(a) for _, a in rows)
    fig, axes = new_figure(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for r, (title, arr) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(arr):
                ax.imshow(arr[c], cmap=cmap, vmin=vmin, vmax=vmax)
        axes[r][0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    return fig
