"""GAN objectives: each computes one loss per update from a batch of real images; the trainer
(:class:`stages.core.training.Trainer`) owns backward, the optimizers and the device.

- :class:`BCEGan` (DCGAN): binary cross-entropy on logits, the discriminator's real/fake
  classification and the generator's "make it say real".
- :class:`HingeGan` (SAGAN): hinge loss for the discriminator, -D(G(z)) for the generator.

Noise comes from the global torch RNG (seeded, saved in checkpoints), so a resumed run draws the same z.
The networks may be ``DistributedDataParallel`` wrappers (multi-process training): the fake images of
the discriminator's step are made under ``no_grad``, so no wrapper waits for gradients that never come.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class _Gan:
    def __init__(self, generator: nn.Module, discriminator: nn.Module, z_dim: int) -> None:
        self.g, self.d, self.z_dim = generator, discriminator, z_dim

    def noise(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=device)  # (B, z_dim)

    def steps(self) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
        """Discriminator update first, then the generator against the updated discriminator."""
        return [("d", self.d_loss), ("g", self.g_loss)]

    def d_loss(self, real: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, real: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BCEGan(_Gan):
    """DCGAN: ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` for D, ``BCE(D(G(z)), 1)`` for G (on logits)."""

    def d_loss(self, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # no generator gradients in D's step
            fake = self.g(self.noise(len(real), real.device))
        d_real, d_fake = self.d(real), self.d(fake)  # (B,) logits
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

    def g_loss(self, real: torch.Tensor) -> torch.Tensor:
        d_fake = self.d(self.g(self.noise(len(real), real.device)))
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


class HingeGan(_Gan):
    """SAGAN: ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))`` for D, ``-mean(D(G(z)))`` for G."""

    def d_loss(self, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fake = self.g(self.noise(len(real), real.device))
        return F.relu(1.0 - self.d(real)).mean() + F.relu(1.0 + self.d(fake)).mean()

    def g_loss(self, real: torch.Tensor) -> torch.Tensor:
        return -self.d(self.g(self.noise(len(real), real.device))).mean()
