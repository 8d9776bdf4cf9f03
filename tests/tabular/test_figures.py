"""The tabular figures say what they show: no overlapping titles; identical panels explained."""
from __future__ import annotations

import numpy as np
import pandas as pd

from stages.tabular.analyze import analyze, histogram_figure
from stages.tabular.scale import apply_scalers, before_after_figure, fit_scalers, unchanged_note


def _train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.normal(30, 12, 400).clip(0, 80),
        "sibsp": rng.permutation([0.0] * 250 + [1.0] * 100 + [2.0] * 30 + [4.0] * 20),  # median 0, Q1 0, Q3 1
        "parch": rng.permutation([0.0] * 320 + [1.0] * 50 + [2.0] * 30),  # Q1 = Q3 = 0
    })


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_histogram_suptitle_clears_the_panel_titles():
    train = _train()
    fig = histogram_figure(train, analyze(train, list(train.columns), 0.05, 10), 10)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)  # lay out (constrained layout runs at draw time)
    sup = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not _overlaps(sup, ax.title.get_window_extent(renderer)), ax.get_title()


def test_identical_robust_panels_are_explained():
    train = _train()
    choice = {"age": "robust", "sibsp": "robust", "parch": "robust"}
    scaled = apply_scalers(train, fit_scalers(train, choice))
    assert unchanged_note(train["age"], scaled["age"], "robust") is None  # age does change
    assert unchanged_note(train["parch"], scaled["parch"], "robust").startswith("unchanged: IQR = 0 (Q1 = Q3 = 0)")
    assert unchanged_note(train["sibsp"], scaled["sibsp"], "robust").startswith("unchanged: median 0, IQR 1")
    fig = before_after_figure(train, scaled, choice)
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(notes) == 2 and all("RobustScaler" in n for n in notes)
