"""Efficient GAN (BiGAN-style): a generator G(z), an encoder E(x) and a discriminator on (x, z) pairs.

With ``image_size=28, channels=64`` these are the course's networks; the image side must be a
multiple of 4 (two stride-2 stages to and from a ``image_size/4`` map).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EfficientGanConfig:
    """Everything the three networks are built from (stored in checkpoints as ``model_args``)."""

    image_size: int = 28
    z_dim: int = 20
    channels: int = 64

    def __post_init__(self) -> None:
        assert self.image_size >= 8 and self.image_size % 4 == 0, f"image_size must be a multiple of 4, >= 8; got {self.image_size}"
        assert self.z_dim >= 1 and self.channels >= 2, f"z_dim >= 1 and channels >= 2 required, got {self.z_dim}, {self.channels}"

    @property
    def base(self) -> int:
        """Side of the smallest feature map (7 for 28x28)."""
        return self.image_size // 4

    def as_dict(self) -> dict:
        return asdict(self)


class Generator(nn.Module):
    """z (B, z_dim) → image (B, 1, S, S) in [-1, 1]: two dense layers, two transposed convs, tanh."""

    def __init__(self, cfg: EfficientGanConfig) -> None:
        super().__init__()
        c, b = cfg.channels, cfg.base
        self.cfg = cfg
        self.dense = nn.Sequential(
            nn.Linear(cfg.z_dim, 16 * c), nn.BatchNorm1d(16 * c), nn.ReLU(inplace=True),
            nn.Linear(16 * c, 2 * c * b * b), nn.BatchNorm1d(2 * c * b * b), nn.ReLU(inplace=True),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),  # (B, c, S/2, S/2)
            nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh(),  # (B, 1, S, S)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = self.cfg.base
        return self.up(self.dense(z).view(len(z), 2 * self.cfg.channels, b, b))  # dense: (B, 2c*b*b)


class Encoder(nn.Module):
    """image (B, 1, S, S) → z (B, z_dim): three convs (the last two stride 2), then a dense layer."""

    def __init__(self, cfg: EfficientGanConfig) -> None:
        super().__init__()
        c, b = cfg.channels, cfg.base
        self.conv = nn.Sequential(
            nn.Conv2d(1, c // 2, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),  # (B, c/2, S, S)
            nn.Conv2d(c // 2, c, 3, 2, 1), nn.BatchNorm2d(c), nn.LeakyReLU(0.1, inplace=True),  # (B, c, S/2, S/2)
            nn.Conv2d(c, 2 * c, 3, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.1, inplace=True),  # (B, 2c, b, b)
        )
        self.last = nn.Linear(2 * c * b * b, cfg.z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.conv(x).flatten(1))  # (B, z_dim)


class Discriminator(nn.Module):
    """(image (B, 1, S, S), z (B, z_dim)) → logit (B,): is this pair (x, E(x)) or (G(z), z)?

    ``features`` gives the joint hidden vector (B, 16c) that the anomaly score compares.
    """

    def __init__(self, cfg: EfficientGanConfig) -> None:
        super().__init__()
        c, b = cfg.channels, cfg.base
        self.x_path = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True),  # (B, c, S/2, S/2)
            nn.Conv2d(c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.LeakyReLU(0.1, inplace=True),  # (B, c, b, b)
        )
        self.z_path = nn.Sequential(nn.Linear(cfg.z_dim, 8 * c), nn.LeakyReLU(0.1, inplace=True))
        self.joint = nn.Sequential(nn.Linear(c * b * b + 8 * c, 16 * c), nn.LeakyReLU(0.1, inplace=True))
        self.last = nn.Linear(16 * c, 1)

    def features(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_path(x).flatten(1), self.z_path(z)], dim=1))  # (B, 16c)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.last(self.features(x, z)).view(len(x))  # (B,)


def build(model_args: dict) -> tuple[Generator, Encoder, Discriminator]:
    """Rebuild the three networks of an ``efficientgan`` checkpoint from its ``model_args``."""
    cfg = EfficientGanConfig(**model_args)
    return Generator(cfg), Encoder(cfg), Discriminator(cfg)
