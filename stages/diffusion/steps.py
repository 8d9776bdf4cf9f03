"""DDIM's timestep sequences, numpy only: ``params.yaml`` is validated (``params-check``, every
diffusion stage) without importing torch, and the sampler visits the same steps."""
from __future__ import annotations

from typing import Literal

import numpy as np

Skip = Literal["uniform", "quadratic"]


def step_sequence(T: int, steps: int, skip: Skip) -> list[int]:
    """The S timesteps DDIM visits, increasing (the DDIM code's ``skip_type``).

    ``uniform``: 0, T/S, 2T/S, … (S must divide T); ``quadratic``: ⌊(i·√(0.8T)/(S−1))²⌋ for i < S,
    denser near t = 0 (the DDIM code's choice for CIFAR-10).

    Raises:
        ValueError: S > T, S does not divide T (uniform), or the quadratic sequence repeats a step.
    """
    if not 1 <= steps <= T:
        raise ValueError(f"steps {steps} must be between 1 and T = {T}")
    if skip == "uniform":
        if T % steps:
            raise ValueError(f"uniform skip needs steps to divide T = {T} (got {steps})")
        return list(range(0, T, T // steps))
    if steps < 2:
        raise ValueError("quadratic skip needs at least 2 steps")
    seq = [int(v) for v in np.linspace(0, np.sqrt(T * 0.8), steps) ** 2]
    if len(set(seq)) != len(seq):
        raise ValueError(f"quadratic skip repeats timesteps with {steps} steps of T = {T}: use fewer steps or uniform")
    return seq
