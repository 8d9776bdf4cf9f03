"""The course's OpenCV exercises on tiny images."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from stages.core.errors import DataError
from stages.image.inspect import channel_stats, describe, histograms
from stages.image.params import TransformsParams
from stages.image.transforms import (
    INTERPOLATIONS,
    binarize,
    crop,
    draw,
    fit_box,
    psnr,
    resize,
    rotate,
    round_trip_psnr,
    scale_pitfall,
    transform_one,
)


def test_fit_box_as_given_clipped_and_moved():
    assert fit_box((3000, 4000, 3), (700, 300, 1200, 800)) == ((700, 300, 1200, 800), None)
    box, note = fit_box((600, 1000, 3), (700, 300, 1200, 800))
    assert box == (700, 300, 1000, 600) and "clipped" in note
    box, note = fit_box((427, 640, 3), (700, 300, 1200, 800))
    assert box == (140, 0, 640, 427) and "moved inside" in note
    with pytest.raises(DataError, match="image.transforms.crop"):
        fit_box((10, 10, 3), (5, 5, 2, 8))


def test_crop_is_a_copy(rgb):
    c = crop(rgb, (2, 3, 10, 13))
    assert c.shape == (10, 8, 3) and np.array_equal(c, rgb[3:13, 2:10])
    c[:] = 0
    assert rgb[3:13, 2:10].any()


@pytest.mark.parametrize("interp", list(INTERPOLATIONS))
def test_resize_shapes(rgb, interp):
    assert resize(rgb, 2.0, interp).shape == (74, 106, 3)
    assert resize(rgb, 0.25, interp).shape == (9, 13, 3)


def test_round_trip_psnr_nearest_up_is_lossless(rgb):
    assert round_trip_psnr(rgb, 2.0, "nearest") is None  # lossless: no finite PSNR
    assert round_trip_psnr(rgb, 0.25, "area") < 30
    with pytest.raises(DataError, match="shapes differ"):
        psnr(rgb, rgb[1:])


def test_rotate_keeps_every_corner(rgb):
    assert rotate(rgb, 90).shape[:2] == (53, 37)
    r = rotate(rgb, 45)
    assert r.shape[0] >= 63 and r.shape[1] >= 63  # (37 + 53) / √2 ≈ 63.6


def test_binarize():
    gray = np.array([[0, 50, 100], [150, 200, 255]], np.uint8)
    fixed, otsu, t = binarize(gray, 128)
    assert fixed.tolist() == [[0, 0, 0], [255, 255, 255]]
    assert set(np.unique(otsu)) <= {0, 255} and 0 < t < 255
    with pytest.raises(DataError, match="gray"):
        binarize(np.dstack([gray] * 3), 128)


def test_draw_does_not_touch_the_input(rgb):
    before = rgb.copy()
    out = draw(rgb, "hi", (2, 2, 30, 20))
    assert np.array_equal(rgb, before) and not np.array_equal(out, rgb)
    assert out[2, 10].tolist() == [255, 0, 0]  # on the rectangle's top edge


def test_scale_pitfall(rgb):
    pit = scale_pitfall(rgb, 0.5)
    n = pit["numbers"]
    assert n["dtype_after_multiply"] == "float64" and n["dtype_fixed"] == "uint8"
    assert n["fraction_clipped_by_imshow"] > 0.9  # what makes the naive picture white
    assert pit["uint8"].max() <= 127 and 0 <= pit["unit"].min() and pit["unit"].max() <= 0.5
    assert n["max_abs_diff_fixed_vs_unit"] < 1 / 255


def test_inspect_numbers(rgb):
    d = describe(rgb)
    assert d["shape"] == [37, 53, 3] and d["blue"]["max"] == int(rgb[:, :, 2].max())
    h = histograms(rgb, 16)
    assert set(h) == {"red", "green", "blue"} and all(v.sum() == 37 * 53 and v.shape == (16,) for v in h.values())
    assert np.array_equal(h["blue"], np.histogram(rgb[:, :, 2], bins=16, range=(0, 256))[0])
    with pytest.raises(DataError, match="non-empty"):
        channel_stats(np.zeros((0, 3), np.uint8))


def test_transform_one_writes_every_output(tmp_path, caplog):
    img = cv2.resize(np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8), (96, 64))
    p = TransformsParams(crop=(700, 300, 1200, 800), scales=[0.5, 2.0], interpolations=["nearest", "area"], zoom=16,
                         angle=30, threshold=100, blur_kernel=3, text="x", rectangle=(5, 5, 40, 30), factor=0.5)
    with caplog.at_level(logging.WARNING):
        m = transform_one("tiny", img, p, tmp_path)
    assert "moved inside" in caplog.text and m["crop_adjusted"] and m["crop_box"] == [0, 0, 96, 64]
    names = {f.name for f in tmp_path.iterdir()}
    assert {"crop.png", "rotate.png", "gray.png", "binary_otsu.png", "drawn.png", "resize.png", "overview.png", "pitfall.png"} <= names
    assert cv2.imread(str(tmp_path / "gray.png"), cv2.IMREAD_UNCHANGED).shape == (64, 96)
    assert set(m["round_trip_psnr_db"]) == {"x0.5", "x2"}
