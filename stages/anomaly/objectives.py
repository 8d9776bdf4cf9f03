"""Objectives of the `anomaly` pipeline.

- :class:`BiGan` trains the Efficient GAN: D tells (x, E(x)) from (G(z), z); G and E each try to
  fool it (binary cross-entropy on logits, as in the course). The trainer owns the updates.
- :func:`anomaly_score`: (1 - λ)·residual + λ·discrimination, per image (AnoGAN, Schlegl et al. 2017,
  λ = 0.1), where residual = Σ|x - G(z)| and discrimination = Σ|f(x) - f(G(z))| over the
  discriminator's hidden features f.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def anomaly_score(x: torch.Tensor, fake: torch.Tensor, feat_x: torch.Tensor, feat_fake: torch.Tensor,
                  lam: float) -> dict[str, torch.Tensor]:
    """Per-image score and its two parts, each (B,).

    Args:
        x, fake: test images and their reconstructions G(z), (B, 1, S, S).
        feat_x, feat_fake: the discriminator's hidden features of each, (B, ...).
        lam: weight of the discrimination loss (0..1).
    """
    assert x.shape == fake.shape, f"images and reconstructions differ in shape: {tuple(x.shape)} vs {tuple(fake.shape)}"
    assert 0.0 <= lam <= 1.0, f"lam must be in [0, 1], got {lam}"
    residual = (x - fake).abs().flatten(1).sum(1)  # (B,)
    discrimination = (feat_x - feat_fake).abs().flatten(1).sum(1)  # (B,)
    return {"score": (1 - lam) * residual + lam * discrimination, "residual": residual, "discrimination": discrimination}


class BiGan:
    """Efficient GAN training losses: updates of D, then G, then E on each batch."""

    def __init__(self, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module, z_dim: int) -> None:
        self.g, self.e, self.d, self.z_dim = generator, encoder, discriminator, z_dim

    def steps(self) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
        return [("d", self.d_loss), ("g", self.g_loss), ("e", self.e_loss)]

    def noise(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=device)  # (B, z_dim)

    def d_loss(self, real: torch.Tensor) -> torch.Tensor:
        z = self.noise(len(real), real.device)
        with torch.no_grad():
            fake, z_real = self.g(z), self.e(real)
        d_real, d_fake = self.d(real, z_real), self.d(fake, z)  # (B,) logits
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

    def g_loss(self, real: torch.Tensor) -> torch.Tensor:
        z = self.noise(len(real), real.device)
        d_fake = self.d(self.g(z), z)
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))

    def e_loss(self, real: torch.Tensor) -> torch.Tensor:
        d_real = self.d(real, self.e(real))
        return F.binary_cross_entropy_with_logits(d_real, torch.zeros_like(d_real))
