"""Stage `image-inspect`: shape, dtype and blue-channel statistics of each photo, and its
per-channel colour histograms (``cv2.calcHist``) as numbers and a figure.

The course reads the photo with OpenCV, whose channel order is BGR: "the blue channel" is
``img[:, :, 0]`` there and ``rgb[:, :, 2]`` here, after the decode stage's conversion to RGB.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from stages.core.errors import DataError
from stages.core.figures import new_figure, save
from stages.core.io import dumps_json
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.image import params
from stages.image.images import decoded_images

log = logging.getLogger(__name__)

CHANNELS = ("red", "green", "blue")
COLOURS = {"red": "#c44e52", "green": "#55a868", "blue": "#4c72b0"}


def channel_stats(channel: np.ndarray) -> dict:
    """min, max, mean, std and median of one ``(H, W)`` channel."""
    if channel.ndim != 2 or channel.size == 0:
        raise DataError(f"expected a non-empty (H, W) channel, got shape {channel.shape}")
    return {
        "min": int(channel.min()),
        "max": int(channel.max()),
        "mean": round(float(channel.mean()), 4),
        "std": round(float(channel.std()), 4),
        "median": float(np.median(channel)),
    }


def describe(rgb: np.ndarray) -> dict:
    """Shape, dtype and blue-channel statistics of an ``(H, W, 3)`` RGB image."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    return {"shape": list(rgb.shape), "dtype": str(rgb.dtype), "blue": channel_stats(rgb[:, :, 2])}


def histograms(rgb: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    """Per-channel pixel counts over ``bins`` equal bins of [0, 256) (``cv2.calcHist``)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"expected (H, W, 3) uint8, got {rgb.dtype} {rgb.shape}")
    return {
        name: cv2.calcHist([rgb], [i], None, [bins], [0, 256]).reshape(-1).astype(np.int64)  # (bins,) (OpenCV 4: (bins, 1))
        for i, name in enumerate(CHANNELS)
    }


def histogram_figure(name: str, rgb: np.ndarray, hists: dict[str, np.ndarray]):
    fig, (ax_img, ax_hist) = new_figure(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1, 1.3]}, layout="constrained")
    ax_img.imshow(rgb)
    ax_img.set_title(f"{name} {rgb.shape[1]}×{rgb.shape[0]}", fontsize=9)
    ax_img.axis("off")
    bins = len(next(iter(hists.values())))
    edges = np.arange(bins) * (256 / bins)
    for channel, counts in hists.items():
        ax_hist.plot(edges, counts, color=COLOURS[channel], label=channel, lw=1)
    ax_hist.set_xlim(0, 256)
    ax_hist.set_xlabel("pixel value")
    ax_hist.set_ylabel("pixels")
    ax_hist.set_title(f"cv2.calcHist, {bins} bins per channel", fontsize=9)
    ax_hist.legend(fontsize=8)
    return fig


def main(stage: Declared) -> None:
    bins = params.load().inspect.bins
    stats = {}
    with stage.outputs() as out:
        folder = out.dir(stage.out("histograms"))
        for name, rgb in decoded_images(stage.dep("decoded")):
            stats[name] = describe(rgb)
            hists = histograms(rgb, bins)
            (folder / f"{name}.json").write_text(dumps_json({"bins": bins, "range": [0, 256], **hists}))
            save(histogram_figure(name, rgb, hists), folder / f"{name}.png")
            log.info("%s: %s %s, blue mean %.1f", name, "x".join(map(str, rgb.shape)), rgb.dtype, stats[name]["blue"]["mean"])
        out.json(stage.out("stats.json"), stats)


if __name__ == "__main__":
    run_stage(main)
