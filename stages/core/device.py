"""PyTorch set-up for a training or inference stage: the device, seeds, deterministic CPU kernels, precision.

``precision`` is ``fp32``, ``fp16`` (autocast + gradient scaling) or ``bf16`` (autocast), as in
Hugging Face Accelerate and Lightning; the reduced ones apply on CUDA only, a CPU always runs fp32.
"""
from __future__ import annotations

import contextlib
from typing import Literal

from .distributed import init_distributed
from .runtime import resolve_device, seed_everything

Precision = Literal["fp32", "fp16", "bf16"]


def setup_torch(seed: int, device: str = "auto"):
    """Seed every RNG, pick the device (``auto`` → CUDA when present), make CPU kernels deterministic.

    Under torchrun this also joins the process group, and on CUDA each process takes the GPU of its
    local rank.

    Returns:
        the ``torch.device`` to train on.
    """
    import torch

    _, name = init_distributed(resolve_device(device))
    dev = torch.device(name)
    seed_everything(seed)  # python, numpy and torch (CPU and every CUDA device); same on every rank
    if dev.type == "cpu":
        deterministic_kernels()
    return dev


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` for eager kernels, without its import.

    The public call also sets TorchInductor's ``deterministic`` flag, and importing that config imports
    ``torch._inductor`` and ``torch._dynamo``: 1.5-5 s in every stage process, about as long as
    ``import torch`` itself. Nothing here compiles with Inductor, so only the switch the eager kernels
    read is set, the one the public call sets too (tests/core/test_trainer.py checks both flags and the
    import).
    """
    import torch

    torch._C._set_deterministic_algorithms(True, warn_only=True)


def precision_on(device, precision: Precision) -> Precision:
    """The precision actually used: ``fp16``/``bf16`` on CUDA only, else ``fp32``."""
    assert precision in ("fp32", "fp16", "bf16"), f"precision is fp32, fp16 or bf16, got {precision!r}"
    return precision if device.type == "cuda" else "fp32"


def autocast(device, precision: Precision) -> contextlib.AbstractContextManager:
    """Autocast to float16 / bfloat16 on CUDA; a no-op on CPU and for ``fp32``."""
    import torch

    used = precision_on(device, precision)
    dtype = torch.bfloat16 if used == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=used != "fp32")
