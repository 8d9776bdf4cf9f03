"""Figures of the diffusion pipeline (drawn with :mod:`stages.core.figures`): sample grids, the
forward-process figure, the reverse-process strip, and quality against network evaluations."""
from __future__ import annotations

import numpy as np

from stages.core.figures import new_figure


def to_display(images: np.ndarray) -> np.ndarray:
    """(N, C, S, S) in [-1, 1] → (N, S, S) or (N, S, S, 3) in [0, 1] for imshow."""
    x = np.clip((np.asarray(images, dtype=np.float32) + 1) / 2, 0, 1)
    return x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """(N, C, S, S) → one image of ⌈N/cols⌉ x cols tiles, 1-pixel gaps, for imshow."""
    x = to_display(images)
    n, s = len(x), x.shape[1]
    rows = -(-n // cols)
    canvas = np.ones((rows * (s + 1) - 1, cols * (s + 1) - 1, *x.shape[3:]), dtype=np.float32)
    for i, img in enumerate(x):
        r, c = divmod(i, cols)
        canvas[r * (s + 1):r * (s + 1) + s, c * (s + 1):c * (s + 1) + s] = img
    return canvas


def sample_grids(grids: list[tuple[str, np.ndarray]], cols: int = 8):
    """One panel per sampler: ``(title, (N, C, S, S) samples)``."""
    fig, axes = new_figure(1, len(grids), figsize=(2.2 * len(grids), 2.6), squeeze=False)
    for ax, (title, images) in zip(axes[0], grids):
        ax.imshow(tile(images, cols), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def strip(rows: np.ndarray, labels: list[str], title: str):
    """A strip of images: ``rows`` is (R, K, C, S, S), one column per step, labelled below."""
    r, k = rows.shape[:2]
    fig, axes = new_figure(r, k, figsize=(0.9 * k, 0.95 * r + 0.4), squeeze=False)
    for i in range(r):
        shown = to_display(rows[i])
        for j in range(k):
            ax = axes[i][j]
            ax.imshow(shown[j], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == r - 1:
                ax.set_xlabel(labels[j], fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def quality_vs_evaluations(rows: list[dict], floor: float):
    """FID and validity against network evaluations per sample (log x), DDIM η = 0 as a line."""
    fig, (a, b) = new_figure(1, 2, figsize=(8, 3.2))
    for ax, key, label in ((a, "fid", "FID (judge features)"), (b, "validity", "validity")):
        ddim = sorted((r for r in rows if r["sampler"] == "ddim" and r["eta"] == 0), key=lambda r: r["evaluations"])
        if ddim:
            ax.plot([r["evaluations"] for r in ddim], [r[key] for r in ddim], "o-", label="DDIM η=0")
        for r in rows:
            if r["sampler"] == "ddpm":
                ax.plot(r["evaluations"], r[key], "s", color="C3", label="DDPM")
            elif r["eta"] != 0:
                ax.plot(r["evaluations"], r[key], "^", color="C2", label=f"DDIM η={r['eta']:g}")
        if key == "fid":
            ax.axhline(floor, color="gray", ls="--", lw=1, label="held-out real (floor)")
        ax.set_xscale("log")
        ax.set_xlabel("network evaluations per sample")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
