"""Stratified, seeded splits of labelled images, per-class caps and per-channel statistics (the vit,
compress and represent pipelines' data stages)."""
from __future__ import annotations

import numpy as np

from .errors import DataError


def stratified_split(labels: np.ndarray, fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): ``fraction`` of every class held out, seeded.

    Raises:
        DataError: a class too small to appear on both sides.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    if (counts[counts > 0] < 2).any():
        raise DataError(f"{name}: class(es) {np.flatnonzero((counts > 0) & (counts < 2)).tolist()} have fewer than 2 images; "
                        "a stratified split needs at least 2 per class")
    try:
        kept, held = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise DataError(f"{name}: cannot split {len(labels)} images stratified ({exc})") from None
    return np.sort(kept), np.sort(held)


def embedded_digits(test_fraction: float, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str], str]:
    """scikit-learn's embedded digits as uint8 (N, 1, 8, 8) images and int64 labels, ``test_fraction``
    of every class held out (:func:`stratified_split`, seeded): (train images, labels), (test images,
    labels), the class names and the source's name."""
    from .digits import EMBEDDED, load_embedded_uint8

    images, labels = load_embedded_uint8()
    images = images[:, None]
    train, test = stratified_split(labels, test_fraction, seed, EMBEDDED)
    return (images[train], labels[train]), (images[test], labels[test]), [str(c) for c in range(10)], EMBEDDED


def capped(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], cap: int | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": ..., "test": ...}`` with the training split's first ``cap`` images of each class
    (all when ``cap`` is None), in order."""
    keep = cap_per_class(np.arange(len(train[1])), train[1], cap)
    return {"train": (train[0][keep], train[1][keep]), "test": test}


def cap_per_class(index: np.ndarray, labels: np.ndarray, cap: int | None) -> np.ndarray:
    """The first ``cap`` indices of each class (all when ``cap`` is None), in order."""
    if cap is None:
        return index
    keep = np.concatenate([index[labels[index] == c][:cap] for c in np.unique(labels[index])])
    return np.sort(keep)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units, rounded to 6 digits (stable JSON)."""
    x = images.astype(np.float64) / 255.0
    return ([round(float(v), 6) for v in x.mean(axis=(0, 2, 3))],
            [round(max(float(v), 1e-6), 6) for v in x.std(axis=(0, 2, 3))])
