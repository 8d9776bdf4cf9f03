"""Per-image anomaly scores as a table: shared by `anomaly-anogan` and `anomaly-evaluate`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def scores_frame(labels: np.ndarray, anomalous: np.ndarray, result: dict[str, torch.Tensor]) -> pd.DataFrame:
    """One row per test image: its index, digit, whether it is anomalous, score and the score's parts."""
    return pd.DataFrame({
        "index": np.arange(len(labels)), "label": labels, "anomalous": anomalous.astype(int),
        **{k: result[k].cpu().numpy() for k in ("score", "residual", "discrimination")},
    })
