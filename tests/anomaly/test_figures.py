"""The anomaly comparison figure says which way the score points."""
from __future__ import annotations

import numpy as np

from stages.anomaly.evaluate import comparison_figure


def test_comparison_says_higher_is_more_anomalous():
    x = np.zeros((3, 1, 16, 16), np.float32)
    fig = comparison_figure(x, np.array([7, 8, 2]), np.array([False, False, True]), {"AnoGAN": x},
                            {"AnoGAN": np.array([1.0, 2.0, 9.0])})
    assert "higher = more anomalous" in fig._suptitle.get_text()
