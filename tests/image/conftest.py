"""Tiny images for the image tests."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rgb() -> np.ndarray:
    """A deterministic 37×53 RGB uint8 image (odd sizes, so blocks never divide it evenly)."""
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
