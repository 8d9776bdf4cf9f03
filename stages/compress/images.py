"""The ``compress`` pipeline's images as the networks take them: a split written by ``compress-data``
(uint8 ``(N, C, S, S)`` images, int64 labels), scaled to [0, 1] and standardised per channel with the
training split's mean and std (from ``summary.json``, fitted on train only)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.core.arrays import read_npz
from stages.core.io import read_json


def read_summary(path: str | Path) -> dict[str, Any]:
    """``compress-data``'s summary (classes, channels, the training split's mean and std)."""
    return read_json(path)


def load_split(path: str | Path, summary: dict[str, Any]):
    """(images (N, C, S, S) float32 standardised, labels (N,) int64) of a split, as torch tensors."""
    import numpy as np
    import torch

    arrays = read_npz(path, what="compress split")
    x = torch.from_numpy(arrays["images"].astype(np.float32) / 255.0)
    mean = torch.tensor(summary["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(summary["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std, torch.from_numpy(arrays["labels"].astype(np.int64))
