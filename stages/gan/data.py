"""Reading the digits that `gan-digits` writes: shared by the GAN and anomaly stages.

A library module, not a stage: the stages that train on or score the digits import it, so editing the
digits stage's own code does not rerun them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.io import require_file


def load_digits_npz(path: str | Path, keys: tuple[str, ...] = ("images", "labels")) -> dict[str, np.ndarray]:
    """Arrays of a digits npz written by `gan-digits`; images must be (N, 1, S, S).

    Raises:
        DataError: a key is missing or the images have the wrong shape.
    """
    path = require_file(path, "digits npz")
    with np.load(path) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise DataError(f"{path}: array(s) missing: {', '.join(missing)} (found: {', '.join(z.files)})")
        arrays = {k: z[k] for k in keys}
    img = arrays["images"]
    if img.ndim != 4 or img.shape[1] != 1 or img.shape[2] != img.shape[3] or len(img) == 0:
        raise DataError(f"{path}: images must be (N, 1, S, S) with N >= 1, got {img.shape}")
    return arrays
