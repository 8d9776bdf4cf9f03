"""Reading the npz files data stages write (:meth:`stages.core.io.Outputs.npz` writes them).

Its own module, not :mod:`stages.core.io`: io is a dep of every stage, and only the stages that read
image arrays (gan, anomaly, diffusion, vit) need this.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .io import require_file


def read_npz(path: str | Path, keys: tuple[str, ...] = ("images", "labels"), what: str = "npz") -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an npz file, read into memory.

    Args:
        what: how the file is named in messages (``digits npz``, ``image split``).

    Raises:
        DataError: the file is missing or empty, or an array is missing (the message lists those it holds).
    """
    path = require_file(path, what)
    with np.load(path) as z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise DataError(f"{path}: array(s) missing: {', '.join(missing)} (found: {', '.join(z.files)})")
        return {k: z[k] for k in keys}
