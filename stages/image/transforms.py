"""Stage `image-transforms`: the course's OpenCV exercises on each photo (knocks 64–70).

For every photo: crop, resize up and down with every interpolation (one comparison figure, and the
PSNR of a down-and-up round trip per interpolation), rotate, flip both ways, grayscale, binarize
(fixed threshold and Otsu), blur (``cv2.blur``), draw a rectangle and text, each saved with
``cv2.imwrite``; and the ``img * 0.5`` dtype pitfall, shown and fixed.

Crop rule: the course's box (700, 300)–(1200, 800) assumes a phone photo. When the box reaches
outside a smaller photo it is clipped to the photo (logged warning); when the clipped box is empty
(the box lies wholly outside), it is moved inside the photo keeping its size where the photo allows
(logged warning). The box used is recorded in ``metrics.json``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from stages.core.errors import DataError
from stages.core.figures import new_figure, save
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.image import params
from stages.image.images import decoded_images, imwrite

log = logging.getLogger(__name__)

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos4": cv2.INTER_LANCZOS4,
    "linear_exact": cv2.INTER_LINEAR_EXACT,
    "nearest_exact": cv2.INTER_NEAREST_EXACT,
}


def fit_box(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> tuple[tuple[int, int, int, int], str | None]:
    """The crop box actually used on an image of ``shape`` (H, W, ...), and why it differs, if it does.

    Args:
        shape: the image's shape.
        box: (x0, y0, x1, y1), x0 < x1 and y0 < y1.

    Returns:
        ``((x0, y0, x1, y1), note)``; ``note`` is None when the box fits as given.

    Raises:
        DataError: the box is not ordered (x0 < x1, y0 < y1) or starts at a negative coordinate.
    """
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise DataError(f"image.transforms.crop: need 0 <= x0 < x1 and 0 <= y0 < y1, got {box}")
    h, w = shape[:2]
    if x1 <= w and y1 <= h:
        return (x0, y0, x1, y1), None
    clipped = (x0, y0, min(x1, w), min(y1, h))
    if clipped[0] < clipped[2] and clipped[1] < clipped[3]:
        return clipped, f"crop box {box} reaches outside the {w}x{h} image: clipped to {clipped}"
    bw, bh = min(x1 - x0, w), min(y1 - y0, h)
    nx0, ny0 = min(x0, w - bw), min(y0, h - bh)
    moved = (nx0, ny0, nx0 + bw, ny0 + bh)
    return moved, f"crop box {box} lies outside the {w}x{h} image: moved inside as {moved}"


def crop(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``rgb[y0:y1, x0:x1]`` (a copy)."""
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1].copy()


def resize(rgb: np.ndarray, scale: float, interpolation: str) -> np.ndarray:
    """Resize by ``scale`` (each side rounded, at least 1 px) with the named OpenCV interpolation."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 takes (width, height)
    return cv2.resize(rgb, size, interpolation=INTERPOLATIONS[interpolation])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    if a.shape != b.shape:
        raise DataError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def round_trip_psnr(rgb: np.ndarray, scale: float, interpolation: str) -> float | None:
    """PSNR (dB) of the photo against itself resized by ``scale`` and back, both with ``interpolation``;
    None when the round trip is lossless (infinite PSNR has no strict-JSON form)."""
    h, w = rgb.shape[:2]
    back = cv2.resize(resize(rgb, scale, interpolation), (w, h), interpolation=INTERPOLATIONS[interpolation])
    value = psnr(rgb, back)
    return None if np.isinf(value) else round(value, 3)


def rotate(rgb: np.ndarray, angle: float) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees about the centre, enlarging the canvas so no
    corner is cut (the new area is black)."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)  # (2, 3) affine
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR)


def binarize(gray: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Fixed-threshold and Otsu binarisation of a uint8 gray image; returns both and Otsu's threshold."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise DataError(f"binarize: expected an (H, W) uint8 gray image, got {gray.dtype} {gray.shape}")
    _, fixed = cv2.threshold(gray, threshold, 255, cv2.THRESH_BINARY)
    otsu_t, otsu = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return fixed, otsu, float(otsu_t)


def draw(rgb: np.ndarray, text: str, rect: tuple[int, int, int, int]) -> np.ndarray:
    """A copy with a red rectangle (clipped to the image by OpenCV) and white text with a black outline."""
    img = rgb.copy()
    x0, y0, x1, y1 = rect
    thick = max(2, round(min(img.shape[:2]) / 200))
    cv2.rectangle(img, (x0, y0), (x1, y1), (255, 0, 0), thick)
    scale = max(0.5, min(img.shape[:2]) / 400)
    org = (x0 + thick * 2, max(y0 - thick * 3, int(30 * scale)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick * 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def scale_pitfall(rgb: np.ndarray, factor: float) -> dict:
    """The course's pitfall: ``img * 0.5`` silently becomes float64 in [0, 127.5], which matplotlib
    clips to [0, 1] (a white picture); the fixes: cast back to uint8, or scale to floats in [0, 1].

    Returns:
        ``wrong`` (float64), ``uint8`` and ``unit`` (float in [0, 1]) arrays, and the numbers.
    """
    wrong = rgb * factor  # uint8 * float -> float64
    fixed = np.clip(wrong, 0, 255).astype(np.uint8)  # truncates, as the course's astype does
    unit = np.clip(rgb.astype(np.float32) / 255.0 * factor, 0.0, 1.0)
    return {
        "wrong": wrong,
        "uint8": fixed,
        "unit": unit,
        "numbers": {
            "factor": factor,
            "dtype_after_multiply": str(wrong.dtype),
            "max_after_multiply": float(wrong.max()),
            "fraction_clipped_by_imshow": round(float((wrong > 1.0).mean()), 6),
            "dtype_fixed": str(fixed.dtype),
            "max_abs_diff_fixed_vs_unit": round(float(np.abs(fixed / 255.0 - unit).max()), 6),
        },
    }


def _db(value: float | None) -> str:
    return "lossless" if value is None else f"{value:.1f} dB"


def _imshow(ax, img: np.ndarray, title: str) -> None:
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest", vmin=0, vmax=255 if img.dtype == np.uint8 else None)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def resize_figure(name: str, rgb: np.ndarray, scales: list[float], interps: list[str], zoom: int, psnrs: dict):
    """Rows: scales; columns: interpolations; each cell the centre ``zoom``×``zoom`` patch, pixel for pixel."""
    fig, axes = new_figure(len(scales), len(interps), figsize=(2.6 * len(interps), 2.4 * len(scales)), squeeze=False)
    for r, s in enumerate(scales):
        for c, interp in enumerate(interps):
            img = resize(rgb, s, interp)
            h, w = img.shape[:2]
            k = min(zoom, h, w)
            y, x = (h - k) // 2, (w - k) // 2
            _imshow(axes[r, c], img[y : y + k, x : x + k], f"×{s:g} {interp}\n{w}×{h}, round trip {_db(psnrs[f'x{s:g}'][interp])}")
    fig.suptitle(f"{name}: centre {zoom}×{zoom} px of each resized image (PSNR: resized and back vs original)", fontsize=9)
    return fig


def overview_figure(name: str, panels: dict[str, np.ndarray]):
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = new_figure(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, (title, img) in zip(axes.flat, panels.items()):
        _imshow(ax, img, title)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    fig.suptitle(name, fontsize=10)
    return fig


def pitfall_figure(name: str, pit: dict):
    n = pit["numbers"]
    fig, axes = new_figure(1, 3, figsize=(10, 2.9))
    axes[0].imshow(np.clip(pit["wrong"], 0, 1))  # what plt.imshow shows for the raw float64 (it clips to [0, 1])
    axes[0].set_title(f"img * {n['factor']:g}: {n['dtype_after_multiply']}, max {n['max_after_multiply']:.1f}\n(imshow clips floats to [0, 1])", fontsize=8)
    axes[1].imshow(pit["uint8"])
    axes[1].set_title("fix 1: (img * f).astype(np.uint8)", fontsize=8)
    axes[2].imshow(pit["unit"])
    axes[2].set_title("fix 2: img / 255 * f, float in [0, 1]", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{name}: the dtype pitfall", fontsize=9)
    return fig


def transform_one(name: str, rgb: np.ndarray, transforms_params: params.TransformsParams, folder: Path) -> dict:
    """Run every exercise on one photo, writing its images and figures into ``folder``; return the numbers."""
    box, note = fit_box(rgb.shape, transforms_params.crop)
    if note:
        log.warning("%s: %s", name, note)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    fixed, otsu, otsu_t = binarize(gray, transforms_params.threshold)
    k = transforms_params.blur_kernel
    images = {
        "crop": crop(rgb, box),
        "rotate": rotate(rgb, transforms_params.angle),
        "flip_horizontal": cv2.flip(rgb, 1),
        "flip_vertical": cv2.flip(rgb, 0),
        "gray": gray,
        "binary_fixed": fixed,
        "binary_otsu": otsu,
        "blur": cv2.blur(rgb, (k, k)),
        "drawn": draw(rgb, transforms_params.text, transforms_params.rectangle),
    }
    for key, img in images.items():
        imwrite(folder / f"{key}.png", img)
    psnrs = {f"x{s:g}": {i: round_trip_psnr(rgb, s, i) for i in transforms_params.interpolations}
             for s in transforms_params.scales}
    save(resize_figure(name, rgb, transforms_params.scales, transforms_params.interpolations, transforms_params.zoom, psnrs),
         folder / "resize.png")
    titles = {
        "crop": f"crop {box}", "rotate": f"rotate {transforms_params.angle:g}°", "flip_horizontal": "flip horizontal",
        "flip_vertical": "flip vertical", "gray": "grayscale", "binary_fixed": f"binary, threshold {transforms_params.threshold}",
        "binary_otsu": f"binary, Otsu ({otsu_t:g})", "blur": f"cv2.blur {k}×{k}", "drawn": "rectangle + text",
    }
    panels = {"original": rgb} | {titles[key]: img for key, img in images.items()}
    save(overview_figure(name, panels), folder / "overview.png")
    pit = scale_pitfall(rgb, transforms_params.factor)
    save(pitfall_figure(name, pit), folder / "pitfall.png")
    return {
        "crop_box": list(box),
        "crop_adjusted": note is not None,
        "rotated_shape": list(images["rotate"].shape),
        "otsu_threshold": otsu_t,
        "binary_fixed_white_fraction": round(float((fixed > 0).mean()), 6),
        "binary_otsu_white_fraction": round(float((otsu > 0).mean()), 6),
        "round_trip_psnr_db": psnrs,
        "pitfall": pit["numbers"],
    }


def main(stage: Declared) -> None:
    transforms_params = params.load().transforms
    metrics = {}
    with stage.outputs() as out:
        root = out.dir(stage.out("images"))
        for name, rgb in tqdm(decoded_images(stage.dep("decoded")), desc="transforms", unit="photo"):
            folder = root / name
            folder.mkdir()
            metrics[name] = transform_one(name, rgb, transforms_params, folder)
            log.info("%s: Otsu threshold %g, crop %s", name, metrics[name]["otsu_threshold"], metrics[name]["crop_box"])
        out.json(stage.out("metrics.json"), metrics)


if __name__ == "__main__":
    run_stage(main)
