"""RGB → YCbCr by one matrix multiply, against the formula and against OpenCV."""
from __future__ import annotations

import numpy as np
import pytest

from stages.core.errors import DataError
from stages.core.params import read_params_file
from stages.image.ycbcr import coefficient_matrix, compare, opencv_ycbcr, rgb_to_ycbcr

COURSE = [[0.299, 0.587, 0.114], [-0.16874, -0.33126, 0.5], [0.5, -0.41869, -0.081]]


def test_matches_the_course_formula(rgb):
    ycc = rgb_to_ycbcr(rgb, coefficient_matrix(COURSE))
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    assert ycc.shape == rgb.shape and ycc.dtype == np.float32
    np.testing.assert_allclose(ycc[..., 0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1e-3)
    np.testing.assert_allclose(ycc[..., 1], -0.16874 * r - 0.33126 * g + 0.5 * b, atol=1e-3)
    np.testing.assert_allclose(ycc[..., 2], 0.5 * r - 0.41869 * g - 0.081 * b, atol=1e-3)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 20])
def test_chunk_size_does_not_change_the_result(rgb, chunk):
    m = coefficient_matrix(COURSE)
    # BLAS may sum in another order for another chunk size: equal up to float32 rounding
    np.testing.assert_allclose(rgb_to_ycbcr(rgb, m, chunk), rgb_to_ycbcr(rgb, m, 1 << 17), rtol=0, atol=1e-4)


def test_close_to_opencv(rgb):
    ycc = rgb_to_ycbcr(rgb, coefficient_matrix(COURSE))
    assert compare(ycc, opencv_ycbcr(rgb, as_float=True))["max_abs_diff"] < 0.15  # OpenCV's coefficients differ in the 4th decimal
    assert compare(ycc, opencv_ycbcr(rgb, as_float=False))["max_abs_diff"] < 1.0  # plus OpenCV's integer rounding


def test_params_hold_the_course_coefficients():
    assert read_params_file()["image"]["ycbcr"]["coefficients"] == COURSE


def test_bad_inputs():
    with pytest.raises(DataError, match="3×3"):
        coefficient_matrix([[1, 0], [0, 1]])
    with pytest.raises(DataError, match=r"\(H, W, 3\)"):
        rgb_to_ycbcr(np.zeros((4, 4), np.uint8), coefficient_matrix(COURSE))


def one_chunk_after_another(rgb: np.ndarray, matrix: np.ndarray, chunk: int) -> np.ndarray:
    """The same chunks multiplied in order on this thread: what every thread count must give, bit for bit."""
    pixels = rgb.reshape(-1, 3)  # (N, 3)
    mt = np.ascontiguousarray(matrix.T, dtype=np.float32)
    parts = [np.matmul(pixels[i : i + chunk].astype(np.float32), mt) for i in range(0, len(pixels), chunk)]
    return np.concatenate(parts).reshape(rgb.shape)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_threads_do_not_change_the_result(rgb, threads):
    m = coefficient_matrix(COURSE)
    expected = one_chunk_after_another(rgb, m, 100)  # 1,961 pixels: 19 full chunks and a short one
    assert np.array_equal(rgb_to_ycbcr(rgb, m, 100, threads=threads), expected)
