"""How an embedding is judged: nearest-neighbour retrieval and a linear probe.

- **Recall@1** (R@1): the fraction of queries whose nearest other item (cosine similarity, the
  query itself left out) has the query's class.
- **MAP@R** (Musgrave, Belongie & Lim 2020, "A Metric Learning Reality Check", §3.2): for a query
  with ``R`` other items of its class, the mean over ``i = 1..R`` of precision at ``i`` counted only
  where the ``i``-th neighbour is of its class, averaged over queries. It rewards ranking *all* of a
  class first, which R@1 does not see.
- **linear probe**: a multinomial logistic regression (scikit-learn's lbfgs, to a tolerance of
  1e-3, on standardised features) fitted on a fraction of the training labels (that fraction of
  each class, at least one image; its first ``views`` views) and scored on the test views, averaged
  over ``subsets`` random draws of the labelled images.
"""
from __future__ import annotations

import numpy as np


def _similarities(embeddings: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    s = e @ e.T
    np.fill_diagonal(s, -np.inf)  # never one's own neighbour
    return s


def _check(embeddings: np.ndarray, labels: np.ndarray) -> None:
    if embeddings.ndim != 2 or len(embeddings) != len(labels) or len(labels) < 2:
        raise ValueError(f"need (N ≥ 2, d) embeddings and N labels: got {embeddings.shape} and {np.shape(labels)}")


def recall_at_1(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """R@1 (module docstring) of ``embeddings`` (N, d) with ``labels`` (N,), leave-one-out."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    _check(embeddings, labels)
    nearest = _similarities(embeddings).argmax(1)
    return float((labels[nearest] == labels).mean())


def map_at_r(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """MAP@R (module docstring), leave-one-out; queries whose class has no other item are skipped.
    Ties in similarity are broken by index (a stable sort)."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    _check(embeddings, labels)
    order = np.argsort(-_similarities(embeddings), axis=1, kind="stable")[:, :-1]  # self (−inf) last, dropped
    scores = []
    for q in range(len(labels)):
        r = int((labels == labels[q]).sum()) - 1
        if r == 0:
            continue
        hits = labels[order[q, :r]] == labels[q]
        precision = np.cumsum(hits) / np.arange(1, r + 1)
        scores.append(float((precision * hits).sum() / r))
    if not scores:
        raise ValueError("no query has another item of its class")
    return float(np.mean(scores))


def labelled_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class's items (rounded, at least one), drawn by ``rng``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1]: got {fraction}")
    keep = []
    for c in np.unique(labels):
        items = np.flatnonzero(labels == c)
        keep.append(rng.choice(items, max(1, round(fraction * len(items))), replace=False))
    return np.sort(np.concatenate(keep))


def linear_probe(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                 fraction: float, subsets: int, seed: int, views: int | None = None) -> float:
    """Test accuracy of a logistic regression on ``fraction`` of the training labels, the mean over
    ``subsets`` draws (one when ``fraction`` is 1).

    Args:
        train: (N, V, d) features of the views of each training image; train_labels: (N,).
        test: (M, d) features of the test views; test_labels: (M,).
        views: the first views of each labelled image the regression is fitted on (None: all V).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    train = train[:, :views]
    n, v, d = train.shape
    scores = []
    for _ in range(1 if fraction == 1 else subsets):
        keep = labelled_subset(train_labels, fraction, rng)
        x = train[keep].reshape(-1, d)
        y = np.repeat(train_labels[keep], v)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, tol=1e-3))
        clf.fit(x, y)
        scores.append(float(clf.score(test, test_labels)))
    return float(np.mean(scores))
