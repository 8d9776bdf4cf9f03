"""What the two GAN stages share: training a GAN on the core training stage, sampling, image grids."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from stages.core.digits import load_digits_npz
from stages.core.figures import new_figure
from stages.core.gan_nets import GanConfig, build
from stages.core.trainer import Trainer
from stages.core.training import TrainingRun
from stages.gan.objectives import BCEGan, HingeGan
from stages.gan.params import GanTrainParams

log = logging.getLogger(__name__)

OBJECTIVES = {"dcgan": BCEGan, "sagan": HingeGan}


def gan_parts(kind: str, train_params: GanTrainParams, image_size: int) -> dict:
    """What a ``dcgan`` or ``sagan`` run declares: its networks, objective and config (for
    :meth:`stages.core.training.TrainingRun.fit` or ``.build``)."""
    cfg = GanConfig(image_size=image_size, z_dim=train_params.z_dim, channels=train_params.channels)
    return {"models": lambda: dict(zip(("g", "d"), build(kind, cfg.as_dict()))), "model_args": cfg.as_dict(),
            "objective": lambda nets: OBJECTIVES[kind](nets["g"], nets["d"], train_params.z_dim)}


def train_gan(run: TrainingRun, train_params: GanTrainParams, train_path: Path) -> tuple[Trainer, torch.Tensor]:
    """Train the ``run.kind`` GAN on the digits at ``train_path``; a killed run of the same params and
    data resumes. Returns the trainer and the training images."""
    images = torch.from_numpy(load_digits_npz(train_path)["images"])
    trainer = run.fit(**gan_parts(run.kind, train_params, images.shape[-1]), data=images, inputs={"train": train_path})
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
