"""Stage `image-ycbcr`: RGB → YCbCr with the course's coefficients, by one reshape and a matrix
multiply, compared with ``cv2.cvtColor`` (course Q.14; the course's limit is 4 s for a photo).

    Y  =  0.29900 R + 0.58700 G + 0.11400 B
    Cb = -0.16874 R - 0.33126 G + 0.50000 B
    Cr =  0.50000 R - 0.41869 G - 0.08100 B

The photo ``(H, W, 3)`` is viewed as ``(H·W, 3)`` pixels and multiplied by the transposed 3×3
matrix: ``(N, 3) @ (3, 3) → (N, 3)``. The multiply runs over chunks of ``chunk_pixels`` pixels, each
converted to float32 just before, so the temporaries stay in the CPU cache: on a 12-megapixel
photo this is several times faster than one multiply over the whole photo; the chunks run on all
CPU cores, as OpenCV's do (benchmarks/bench_ycbcr.py).

OpenCV's ``COLOR_RGB2YCrCb`` orders the channels Y, Cr, Cb and adds an offset (128 for uint8,
0.5 for float); the comparison reorders and removes it. OpenCV computes Cb = 0.564·(B − Y) and
Cr = 0.713·(R − Y), coefficients that differ from the course's in the fourth decimal (e.g. −0.0813
for B in Cr, where the course has −0.081), so the float comparison differs by up to about 0.12; the
uint8 one adds OpenCV's fixed-point arithmetic and rounding to integers (below 1 in all).
"""
from __future__ import annotations

import logging
import os
import time

import cv2
import numpy as np
from tqdm import tqdm

from stages.core.errors import DataError
from stages.core.figures import new_figure, save
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.image import params
from stages.image.images import decoded_images

log = logging.getLogger(__name__)

CHANNELS = ("Y", "Cb", "Cr")


def coefficient_matrix(coefficients: list[list[float]]) -> np.ndarray:
    """The 3×3 float32 matrix (rows Y, Cb, Cr; columns R, G, B)."""
    m = np.asarray(coefficients, dtype=np.float32)
    if m.shape != (3, 3):
        raise DataError(f"image.ycbcr.coefficients: expected a 3×3 matrix, got shape {m.shape}")
    return m


def rgb_to_ycbcr(rgb: np.ndarray, matrix: np.ndarray, chunk_pixels: int = 1 << 16, threads: int | None = None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB → ``(H, W, 3)`` float32 Y, Cb, Cr (no offset: Cb, Cr centred on 0).

    The chunks are independent, so they run on ``threads`` threads (NumPy releases the GIL while
    it converts and multiplies), each with a single-threaded BLAS: for a 3×3 matrix BLAS's own
    threads only add start-up and, on a busy machine, spinning. Chunk boundaries do not depend on
    ``threads``, so neither does the result.

    Args:
        rgb: the photo; not modified.
        matrix: 3×3, rows Y, Cb, Cr over columns R, G, B.
        chunk_pixels: pixels per multiply; the result is the same up to float32 rounding.
        threads: worker threads; None = the CPU count (at most 16).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DataError(f"rgb_to_ycbcr: expected an (H, W, 3) image, got shape {rgb.shape}")
    if chunk_pixels < 1:
        raise DataError(f"image.ycbcr.chunk_pixels: must be ≥ 1, got {chunk_pixels}")
    pixels = rgb.reshape(-1, 3)  # (N, 3), a view
    mt = np.ascontiguousarray(matrix.T, dtype=np.float32)  # (3, 3): pixels @ M.T = (M @ pixel) per row
    out = np.empty(pixels.shape, dtype=np.float32)  # (N, 3)

    def multiply(i: int) -> None:
        np.matmul(pixels[i : i + chunk_pixels].astype(np.float32), mt, out=out[i : i + chunk_pixels])

    starts = range(0, len(pixels), chunk_pixels)
    workers = max(1, min(threads or os.cpu_count() or 1, 16, len(starts)))
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            for i in starts:
                multiply(i)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(multiply, starts))
    return out.reshape(rgb.shape)


def opencv_ycbcr(rgb: np.ndarray, as_float: bool) -> np.ndarray:
    """``cv2.cvtColor(COLOR_RGB2YCrCb)`` reordered to Y, Cb, Cr with the offset removed (float32).

    ``as_float``: convert the float32 photo (exact), else the uint8 photo (rounded to integers).
    """
    if as_float:
        ycrcb = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)
        offset = 0.5
    else:
        ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        offset = 128.0
    return np.stack([ycrcb[..., 0], ycrcb[..., 2] - offset, ycrcb[..., 1] - offset], axis=-1)


def compare(ours: np.ndarray, reference: np.ndarray) -> dict:
    """Max absolute difference, overall and per channel."""
    diff = np.abs(ours.astype(np.float64) - reference)
    return {"max_abs_diff": round(float(diff.max()), 5)} | {
        f"max_abs_diff_{c}": round(float(diff[..., i].max()), 5) for i, c in enumerate(CHANNELS)
    }


def ycbcr_figure(name: str, rgb: np.ndarray, ycc: np.ndarray, diff: np.ndarray):
    fig, axes = new_figure(1, 5, figsize=(16, 2.8))
    axes[0].imshow(rgb)
    axes[0].set_title(name, fontsize=8)
    for ax, i, c in zip(axes[1:4], range(3), CHANNELS):
        lim = (0, 255) if c == "Y" else (-128, 128)
        im = ax.imshow(ycc[..., i], cmap="gray", vmin=lim[0], vmax=lim[1])
        ax.set_title(f"{c} [{ycc[..., i].min():.0f}, {ycc[..., i].max():.0f}]", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.035)
    im = axes[4].imshow(diff.max(axis=2), cmap="magma")
    axes[4].set_title(f"|ours − cv2 uint8|, max {diff.max():.2f}", fontsize=8)
    fig.colorbar(im, ax=axes[4], fraction=0.035)
    for ax in axes:
        ax.axis("off")
    return fig


def main(stage: Declared) -> None:
    ycbcr_params = params.load().ycbcr
    matrix = coefficient_matrix(ycbcr_params.coefficients)
    metrics = {}
    with stage.outputs() as out:
        folder = out.dir(stage.out("arrays"))
        for name, rgb in tqdm(decoded_images(stage.dep("decoded")), desc="ycbcr", unit="photo"):
            t0 = time.perf_counter()
            ycc = rgb_to_ycbcr(rgb, matrix, ycbcr_params.chunk_pixels)
            seconds = time.perf_counter() - t0  # logged only: a timing in an output would break reproducibility
            ref_u8 = opencv_ycbcr(rgb, as_float=False)
            vs_float = compare(ycc, opencv_ycbcr(rgb, as_float=True))
            vs_u8 = compare(ycc, ref_u8)
            metrics[name] = {
                "shape": list(rgb.shape),
                "vs_cv2_float32": vs_float,
                "vs_cv2_uint8": vs_u8,
                "range": {c: [round(float(ycc[..., i].min()), 3), round(float(ycc[..., i].max()), 3)] for i, c in enumerate(CHANNELS)},
            }
            with open(folder / f"{name}.npz", "wb") as f:
                np.savez_compressed(f, ycbcr=ycc)
            save(ycbcr_figure(name, rgb, ycc, np.abs(ycc - ref_u8)), folder / f"{name}.png")
            log.info("%s: %.1f ms for %.1f Mpx; max |diff| vs cv2 float32 %.4f, vs cv2 uint8 %.4f",
                     name, seconds * 1e3, rgb.shape[0] * rgb.shape[1] / 1e6, vs_float["max_abs_diff"], vs_u8["max_abs_diff"])
        out.json(stage.out("metrics.json"), metrics)


if __name__ == "__main__":
    run_stage(main)
