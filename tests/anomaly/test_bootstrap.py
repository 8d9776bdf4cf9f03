"""The ROC-AUC bootstrap interval of `anomaly-evaluate` and the figure title that reports it."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from stages.anomaly.evaluate import auc_title, bootstrap_roc_auc, compare, pairwise_wins
from stages.core.errors import DataError


def noisy_scores(n_pos: int = 60, n_neg: int = 90, shift: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Anomalous images score ``shift`` higher on average; rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    anomalous = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    return anomalous, np.round(rng.normal(size=n_pos + n_neg) + shift * anomalous, 1)


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic over average ranks (ties count a half): a computation
    of its own, neither the pairwise matrix nor the counts of the shortcut under test."""
    ranks, positive = rankdata(scores), labels == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_pairwise_wins_mean_is_the_roc_auc_with_ties():
    anomalous, scores = noisy_scores()
    wins = pairwise_wins(anomalous, scores)
    assert wins.shape == (60, 90)
    assert wins.mean() == pytest.approx(roc_auc_score(anomalous, scores), abs=1e-12)


def test_bootstrap_matches_resampling_images_one_by_one():
    """The counts-times-matrix shortcut gives the interval that resampling images and calling sklearn gives."""
    anomalous, scores = noisy_scores()
    low, high = bootstrap_roc_auc(anomalous, scores, resamples=2000, seed=0)
    rng = np.random.default_rng(1)
    pos, neg = np.flatnonzero(anomalous == 1), np.flatnonzero(anomalous == 0)
    aucs = []
    for i in range(2000):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        aucs.append(rank_auc(anomalous[idx], scores[idx]))
        if i < 50:  # the rank formula is sklearn's ROC-AUC (checked here; 4 ms a call would take 8 s for all)
            assert aucs[-1] == pytest.approx(roc_auc_score(anomalous[idx], scores[idx]), abs=1e-12)
    ref_low, ref_high = np.percentile(aucs, [2.5, 97.5])
    assert low == pytest.approx(ref_low, abs=0.015) and high == pytest.approx(ref_high, abs=0.015)


def test_interval_contains_the_estimate_narrows_with_more_images_and_is_seeded():
    small = noisy_scores(30, 30)
    large = noisy_scores(300, 300)
    for anomalous, scores in (small, large):
        low, high = bootstrap_roc_auc(anomalous, scores, 1000, seed=0)
        assert low < roc_auc_score(anomalous, scores) < high
    width = [np.diff(bootstrap_roc_auc(*s, 1000, seed=0))[0] for s in (small, large)]
    assert width[1] < width[0] / 2  # about 1/sqrt(10) as wide with 10x the images
    assert bootstrap_roc_auc(*small, 1000, seed=3) == bootstrap_roc_auc(*small, 1000, seed=3)
    assert bootstrap_roc_auc(*small, 1000, seed=3) != bootstrap_roc_auc(*small, 1000, seed=4)


def test_separable_scores_give_a_point_interval_at_one():
    anomalous = np.array([0, 0, 0, 1, 1, 1])
    assert bootstrap_roc_auc(anomalous, np.array([1.0, 2, 3, 4, 5, 6]), 200, seed=0) == (1.0, 1.0)
    out = compare(anomalous, {"perfect": np.arange(6.0), "reversed": -np.arange(6.0)}, seed=0, resamples=200)
    assert out["perfect"] == {"roc_auc": 1.0, "roc_auc_low": 1.0, "roc_auc_high": 1.0}
    assert out["reversed"]["roc_auc"] == 0.0 and out["reversed"]["roc_auc_high"] == 0.0


def test_bootstrap_refuses_a_one_class_test_set():
    with pytest.raises(DataError, match="both normal and anomalous"):
        bootstrap_roc_auc(np.zeros(4, int), np.arange(4.0), 10, seed=0)


def test_auc_title_names_both_methods_intervals_and_counts():
    aucs = {"anogan": {"roc_auc": 0.9123, "roc_auc_low": 0.88, "roc_auc_high": 0.94},
            "efficientgan": {"roc_auc": 0.85, "roc_auc_low": 0.8, "roc_auc_high": 0.9}}
    title = auc_title(aucs, {"anogan": "AnoGAN", "efficientgan": "Efficient GAN"}, 320, 160)
    assert "AnoGAN 0.912 [0.880, 0.940]" in title and "Efficient GAN 0.850 [0.800, 0.900]" in title
    assert "95%" in title and "320 test images, 160 anomalous" in title
