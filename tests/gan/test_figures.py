"""The SAGAN figure: attention maps carry a colour bar (a shared scale per row)."""
from __future__ import annotations

import numpy as np

from stages.gan.sagan import _attention_figure


def test_attention_rows_have_a_colour_bar():
    rng = np.random.default_rng(0)
    att4 = rng.dirichlet(np.ones(16), 3).reshape(3, 4, 4)  # each map sums to 1, as softmax attention does
    att8 = rng.dirichlet(np.ones(64), 3).reshape(3, 8, 8)
    fig = _attention_figure([("generated", rng.uniform(-1, 1, (3, 16, 16))), ("a4", att4), ("a8", att8)])
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2
    assert [b.get_ylabel() for b in bars] == ["weight", "weight"]
    assert [b.get_ylim() for b in bars] == [(0.0, att4.max()), (0.0, att8.max())]
