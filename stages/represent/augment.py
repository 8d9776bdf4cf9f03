"""Random affine views of images: the one augmentation every method of the pipeline sees.

Each view is one OpenCV ``warpAffine`` (bilinear) of the source image onto a ``px`` x ``px`` canvas:
the image is scaled to fill the canvas (the 8x8 digits become 24x24 in the same step), rotated by
an angle in ±``degrees``, scaled by a factor in ``scale``, sheared horizontally by up to ±``shear``
and shifted by up to ±``shift_px`` pixels on each axis; then integer noise uniform in ±``noise``
grey levels is added and the result clipped to 0..255.

The same bytes on every CPU: the random numbers are NumPy's (``default_rng``, exact), each matrix
coefficient is rounded to 1/1024 before OpenCV sees it (so a last-bit difference in a platform's
``cos`` cannot move it), and OpenCV warps 8-bit images in fixed-point arithmetic, but its AVX2 warp
rounds some source coordinates differently from its baseline (SSE) one: measured here, the views of
20 digits hashed one way with AVX2 enabled and another with ``OPENCV_CPU_DISABLE=AVX2``.
So the warp runs with OpenCV's optimised paths switched off (``cv2.setUseOptimized(False)``, restored
afterwards): one code path on every x86-64 CPU, at no cost that matters for images this small.
"""
from __future__ import annotations

import math

import numpy as np

QUANTUM = 1024  # matrix coefficients are multiples of 1/QUANTUM


def affine_matrix(src_px: int, px: int, degrees: float, scale: float, shear: float, shift: tuple[float, float]) -> np.ndarray:
    """The 2x3 matrix mapping a ``src_px`` image's pixel centres onto a ``px`` canvas: centre to
    centre, scaled by ``scale · px / src_px``, rotated by ``degrees`` (counter-clockwise on screen),
    sheared by ``shear`` (x += shear · y) and shifted by ``shift`` (dx, dy) pixels, rounded to 1/1024."""
    a = math.radians(degrees)
    zoom = scale * px / src_px
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # y points down on screen
    linear = zoom * rot @ np.array([[1.0, shear], [0.0, 1.0]])
    c_src = np.full(2, (src_px - 1) / 2)
    c_dst = np.array([(px - 1) / 2 + shift[0], (px - 1) / 2 + shift[1]])
    m = np.hstack([linear, (c_dst - linear @ c_src)[:, None]])
    return np.round(m * QUANTUM) / QUANTUM


def random_views(images: np.ndarray, per_image: int, px: int, rng: np.random.Generator, *, degrees: float,
                 scale: tuple[float, float], shear: float, shift_px: float, noise: int) -> np.ndarray:
    """``per_image`` random views of each image.

    Args:
        images: (N, C, H, W) uint8, square.
        rng: drawn from in a fixed order (view by view, then image by image), so a seed gives the bytes.

    Returns:
        (N, per_image, C, px, px) uint8.
    """
    import cv2

    if images.ndim != 4 or images.shape[2] != images.shape[3] or images.dtype != np.uint8:
        raise ValueError(f"images must be square uint8 (N, C, H, W): got {images.dtype} {images.shape}")
    if per_image < 1 or px < 1:
        raise ValueError(f"per_image and px must be ≥ 1: got {per_image}, {px}")
    optimised = cv2.useOptimized()
    cv2.setUseOptimized(False)  # the baseline warp on every CPU (module docstring)
    try:
        return _views(images, per_image, px, rng, degrees, scale, shear, shift_px, noise)
    finally:
        cv2.setUseOptimized(optimised)


def _views(images, per_image, px, rng, degrees, scale, shear, shift_px, noise) -> np.ndarray:
    import cv2

    n, c, src = images.shape[:3]
    hwc = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # OpenCV's layout
    out = np.empty((n, per_image, c, px, px), dtype=np.uint8)
    for v in range(per_image):
        angle = rng.uniform(-degrees, degrees, n)
        zoom = rng.uniform(scale[0], scale[1], n)
        sh = rng.uniform(-shear, shear, n)
        shift = rng.uniform(-shift_px, shift_px, (n, 2))
        jitter = rng.integers(-noise, noise + 1, (n, c, px, px), dtype=np.int16)
        for i in range(n):
            m = affine_matrix(src, px, float(angle[i]), float(zoom[i]), float(sh[i]), (float(shift[i, 0]), float(shift[i, 1])))
            warped = cv2.warpAffine(hwc[i], m, (px, px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            warped = warped.reshape(px, px, c).transpose(2, 0, 1)
            out[i, v] = np.clip(warped.astype(np.int16) + jitter[i], 0, 255).astype(np.uint8)
    return out
