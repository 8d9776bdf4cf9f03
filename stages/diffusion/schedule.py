"""DDPM's forward process, Algorithm 1's loss, Algorithm 2 (ancestral sampling) and the DDIM update.

A library module shared by `diffusion-train` (the loss), `diffusion-sample` (the samplers) and the
benchmark. Timesteps are 0-based indices ``t = 0 … T-1`` (the paper's t = 1 … T), as in the DDIM
authors' code; ``alpha_bar[t]`` is the paper's ᾱ_{t+1}.

- Forward: q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), ᾱ_t = ∏_{s ≤ t} (1 − β_s), β either linear from
  ``beta_1`` to ``beta_T`` (Ho et al.) or Nichol & Dhariwal's cosine schedule (ᾱ_t = f(t)/f(0),
  f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, β capped at 0.999).
- Algorithm 1: t ~ U{0..T-1}, ε ~ N(0, I), loss ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖².
- Algorithm 2: x_{t-1} = (x_t − β_t/√(1−ᾱ_t) ε_θ) / √α_t + σ_t z, σ_t² = β̃_t = β_t (1−ᾱ_{t-1})/(1−ᾱ_t)
  (``fixed_small``, the DDIM code's and diffusers' default) or β_t (``fixed_large``); no noise at t = 0.
  With ``clip``, as Ho et al.'s code samples (``clip_denoised=True``) and diffusers by default, the mean
  is the posterior q(x_{t-1} | x_t, x̂_0) of the predicted x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t clipped to
  [-1, 1]; unclipped, that posterior mean equals the ε form above.
- DDIM (Song et al. 2020, eq. 12): x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t; c1 = η √((1−ᾱ_t/ᾱ_next)(1−ᾱ_next)/(1−ᾱ_t));
  c2 = √(1 − ᾱ_next − c1²); x_next = √ᾱ_next x̂_0 + c1 z + c2 ε, with ᾱ_next = 1 after the last step.
  With ``clip``, x̂_0 is clipped to [-1, 1] and ε is re-derived from the clipped x̂_0,
  ε' = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t) (GLIDE's sampler; diffusers' ``use_clipped_model_output=True``), so the
  update stays the one that maps x̂_0 back to x_t: with η = 1 over all T steps it is Algorithm 2's clipped
  step exactly. Keeping the unclipped ε (diffusers' default) pairs a clipped x̂_0 with an ε that no longer
  explains x_t, and the error feeds every later step (docs/diffusion.md: FID 71 instead of 16 at S = 50).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from stages.diffusion.steps import Skip, step_sequence  # noqa: F401 - the sampler's steps, re-exported

BetaSchedule = Literal["linear", "cosine"]
Variance = Literal["fixed_small", "fixed_large"]


@dataclass(frozen=True)
class Schedule:
    """The β schedule and the quantities derived from it, as float64 tensors of length T."""

    betas: torch.Tensor  # (T,)
    alphas: torch.Tensor  # (T,) 1 − β
    alpha_bar: torch.Tensor  # (T,) cumulative product of alphas

    @property
    def T(self) -> int:
        return len(self.betas)


def linear_schedule(beta_1: float, beta_T: float, timesteps: int) -> Schedule:
    """DDPM's linear β schedule (float64, as the DDIM code builds it with numpy).

    Raises:
        ValueError: β outside (0, 1), not increasing, or fewer than 2 timesteps (params validate this first).
    """
    if not (0 < beta_1 < beta_T < 1) or timesteps < 2:
        raise ValueError(f"need 0 < beta_1 < beta_T < 1 and timesteps >= 2 (got {beta_1}, {beta_T}, {timesteps})")
    betas = torch.from_numpy(np.linspace(beta_1, beta_T, timesteps, dtype=np.float64))
    alphas = 1.0 - betas
    return Schedule(betas=betas, alphas=alphas, alpha_bar=torch.cumprod(alphas, 0))


def cosine_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal's (2021, eq. 17) cosine schedule: ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2).

    β_t = 1 − ᾱ_t/ᾱ_{t−1}, capped at ``max_beta`` as in their code (the last β would otherwise be 1).
    Its SNR ᾱ/(1−ᾱ) falls through [0.1, 10] over 62 % of the T steps (the linear schedule: 39 %, with 52 %
    of its steps below 0.1, where an 8x8 image is already noise).

    Raises:
        ValueError: fewer than 2 timesteps.
    """
    if timesteps < 2:
        raise ValueError(f"need timesteps >= 2 (got {timesteps})")
    x = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((x + s) / (1 + s) * np.pi / 2) ** 2
    betas = torch.from_numpy(np.minimum(1 - f[1:] / f[:-1], max_beta))
    alphas = 1.0 - betas
    return Schedule(betas=betas, alphas=alphas, alpha_bar=torch.cumprod(alphas, 0))


def make_schedule(kind: BetaSchedule, beta_1: float, beta_T: float, timesteps: int) -> Schedule:
    """The β schedule ``diffusion.train.schedule`` names (``beta_1``/``beta_T`` are the linear one's ends)."""
    if kind == "linear":
        return linear_schedule(beta_1, beta_T, timesteps)
    if kind == "cosine":
        return cosine_schedule(timesteps)
    raise ValueError(f"unknown β schedule {kind!r}: linear or cosine")


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped (B, 1, 1, 1) in ``like``'s dtype and device, to broadcast over images."""
    return values.to(like.device)[t].to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def q_sample(s: Schedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A draw of q(x_t | x_0): √ᾱ_t x_0 + √(1−ᾱ_t) ε. ``x0``, ``noise``: (B, C, H, W); ``t``: (B,)."""
    ab = _at(s.alpha_bar, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def ddpm_loss(net: Callable, s: Schedule, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1's simplified loss on one batch: mean over pixels and batch of (ε − ε_θ(x_t, t))²."""
    t = torch.randint(0, s.T, (len(x0),), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    return torch.nn.functional.mse_loss(net(q_sample(s, x0, t, noise), t), noise)


def posterior_variance(s: Schedule, t: int, variance: Variance = "fixed_small") -> float:
    """σ_t² of Algorithm 2: β̃_t = β_t (1−ᾱ_{t−1})/(1−ᾱ_t) (β̃_0 = 0), or β_t for ``fixed_large``."""
    if variance == "fixed_large":
        return float(s.betas[t])
    prev = float(s.alpha_bar[t - 1]) if t > 0 else 1.0
    return float(s.betas[t]) * (1 - prev) / (1 - float(s.alpha_bar[t]))


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, ab_t: float, clip: bool = False) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t, clipped to the data range [-1, 1] with ``clip``."""
    x0 = (x_t - (1 - ab_t) ** 0.5 * eps) / ab_t ** 0.5
    return x0.clamp(-1, 1) if clip else x0


def ddpm_mean(s: Schedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, clip: bool = False) -> torch.Tensor:
    """Algorithm 2's mean μ_θ(x_t, t) = (x_t − β_t/√(1−ᾱ_t) ε) / √α_t; with ``clip``, the posterior mean
    √ᾱ_{t−1} β_t/(1−ᾱ_t) x̂_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) x_t of the clipped x̂_0."""
    beta, alpha, ab = float(s.betas[t]), float(s.alphas[t]), float(s.alpha_bar[t])
    if not clip:
        return (x_t - beta / (1 - ab) ** 0.5 * eps) / alpha ** 0.5
    prev = float(s.alpha_bar[t - 1]) if t > 0 else 1.0
    return prev ** 0.5 * beta / (1 - ab) * predict_x0(x_t, eps, ab, clip) + alpha ** 0.5 * (1 - prev) / (1 - ab) * x_t


def ddpm_step(s: Schedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, noise: torch.Tensor | None,
              variance: Variance = "fixed_small", clip: bool = False) -> torch.Tensor:
    """One step of Algorithm 2: x_{t−1} = μ_θ(x_t, t) + σ_t z (z = 0 at the last step, t = 0)."""
    mean = ddpm_mean(s, x_t, eps, t, clip)
    if t == 0 or noise is None:
        return mean
    return mean + posterior_variance(s, t, variance) ** 0.5 * noise


def ddim_coefficients(ab_t: float, ab_next: float, eta: float) -> tuple[float, float]:
    """(c1, c2) of the DDIM update from ᾱ_t to ᾱ_next (see the module docstring).

    Raises:
        ValueError: η outside [0, 1] (above 1, c1² exceeds 1 − ᾱ_next and c2 has no real value).
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"DDIM eta must be in [0, 1] (got {eta})")
    c1 = eta * ((1 - ab_t / ab_next) * (1 - ab_next) / (1 - ab_t)) ** 0.5
    return c1, max(1 - ab_next - c1 ** 2, 0.0) ** 0.5  # max: rounding only (c1² ≤ 1 − ᾱ_next for η ≤ 1)


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, ab_t: float, ab_next: float, eta: float,
              noise: torch.Tensor | None, clip: bool = False) -> torch.Tensor:
    """One DDIM update x_t → x_next given ε_θ(x_t, t); ``noise`` is only used when η > 0.

    With ``clip``, ε is re-derived from the clipped x̂_0 (see the module docstring).
    """
    x0 = predict_x0(x_t, eps, ab_t, clip)
    if clip:
        eps = (x_t - ab_t ** 0.5 * x0) / (1 - ab_t) ** 0.5
    c1, c2 = ddim_coefficients(ab_t, ab_next, eta)
    out = ab_next ** 0.5 * x0 + c2 * eps
    return out + c1 * noise if c1 > 0 and noise is not None else out


@torch.no_grad()
def ddpm_sample(net: Callable, s: Schedule, x_T: torch.Tensor, generator: torch.Generator,
                variance: Variance = "fixed_small", keep: tuple[int, ...] = (), clip: bool = False) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Algorithm 2 from ``x_T`` over all T steps: T network evaluations per image.

    Args:
        net: ε_θ, called as ``net(x, t)`` with (B,) integer timesteps.
        x_T: (B, C, H, W) starting noise.
        generator: the source of the per-step noise z (on ``x_T``'s device).
        keep: timesteps whose x_t to return (for the reverse-process strip).

    Returns:
        (x_0, {t: x_t for t in keep}).
    """
    x, kept = x_T, {}
    for t in reversed(range(s.T)):
        if t in keep:
            kept[t] = x.cpu()
        eps = net(x, torch.full((len(x),), t, device=x.device, dtype=torch.long))
        noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator) if t > 0 else None
        x = ddpm_step(s, x, eps, t, noise, variance, clip)
    return x, kept


@torch.no_grad()
def ddim_sample(net: Callable, s: Schedule, x_T: torch.Tensor, seq: list[int], eta: float,
                generator: torch.Generator | None = None, clip: bool = False) -> torch.Tensor:
    """DDIM's generalised sampler over the timesteps ``seq`` (increasing): len(seq) network evaluations.

    With η = 0 it is deterministic given ``x_T`` (no noise is drawn); η = 1 is DDPM-like.
    """
    x = x_T
    ab = s.alpha_bar.tolist()
    for i in reversed(range(len(seq))):
        t = seq[i]
        ab_next = ab[seq[i - 1]] if i > 0 else 1.0
        eps = net(x, torch.full((len(x),), t, device=x.device, dtype=torch.long))
        noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator) if eta > 0 else None
        x = ddim_step(x, eps, ab[t], ab_next, eta, noise, clip)
    return x
