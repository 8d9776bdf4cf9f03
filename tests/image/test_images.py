"""Reading photos: the bad inputs of the issue, and the documented conversions."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from stages.core.errors import DataError
from stages.image.decode import embedded_files, origin, source_files
from stages.core.params import SourceParams
from stages.image.images import read_photo, to_rgb8, unique_names


def write(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def test_reads_8bit_colour_as_rgb(tmp_path, rgb):
    path = write(tmp_path / "a.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    img, info = read_photo(path)
    assert img.dtype == np.uint8 and np.array_equal(img, rgb)
    assert info["conversions"] == []


def test_embedded_photos_are_real_jpegs():
    files = embedded_files()
    assert [f.name for f in files] == ["china.jpg", "flower.jpg"]
    img, info = read_photo(files[0])
    assert img.shape == (427, 640, 3) and info["decoded_dtype"] == "uint8"


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 10)
    with pytest.raises(DataError, match=r"notes\.jpg.*not an image"):
        read_photo(path)


def test_empty_file_names_the_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.png.*empty"):
        read_photo(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_photo(tmp_path / "nope.jpg")


def test_truncated_jpeg_is_refused(tmp_path, rgb):
    ok, buf = cv2.imencode(".jpg", cv2.resize(rgb, (400, 300)))
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg.*truncated"):
        read_photo(path)


def test_jpeg_with_data_after_the_end_marker_is_accepted(tmp_path, rgb):
    ok, buf = cv2.imencode(".jpg", rgb)
    path = tmp_path / "trailer.jpg"
    path.write_bytes(buf.tobytes() + b"vendor trailer after EOI")  # as some phones write
    img, _ = read_photo(path)
    assert img.shape == rgb.shape


def test_truncated_png_is_refused(tmp_path, rgb):
    ok, buf = cv2.imencode(".png", rgb)
    path = tmp_path / "cut.png"
    path.write_bytes(buf.tobytes()[:-30])
    with pytest.raises(DataError, match=r"cut\.png.*truncated PNG"):
        read_photo(path)


def test_16bit_png_is_scaled_and_logged(tmp_path, caplog):
    img16 = np.zeros((4, 5, 3), np.uint16)
    img16[0, 0] = [65535, 257 * 100, 0]  # BGR
    path = write(tmp_path / "deep.png", img16)
    with caplog.at_level(logging.WARNING):
        img, info = read_photo(path)
    assert img.dtype == np.uint8 and img[0, 0].tolist() == [0, 100, 255]  # RGB
    assert info["decoded_dtype"] == "uint16" and "16-bit scaled to 8-bit" in info["conversions"]
    assert "deep.png: 16-bit scaled to 8-bit" in caplog.text


def test_grayscale_is_copied_to_three_channels(tmp_path, rgb, caplog):
    gray = rgb[:, :, 0]
    path = write(tmp_path / "gray.png", gray)
    with caplog.at_level(logging.WARNING):
        img, info = read_photo(path)
    assert img.shape == rgb.shape and all(np.array_equal(img[:, :, c], gray) for c in range(3))
    assert "grayscale" in caplog.text and info["conversions"] == ["grayscale copied into R, G, B"]


def test_rgba_is_composited_over_white(tmp_path, caplog):
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[0, 0] = [255, 0, 0, 255]  # opaque blue
    bgra[0, 1] = [255, 0, 0, 0]  # fully transparent: becomes white
    path = write(tmp_path / "alpha.png", bgra)
    with caplog.at_level(logging.WARNING):
        img, info = read_photo(path)
    assert img[0, 0].tolist() == [0, 0, 255] and img[0, 1].tolist() == [255, 255, 255]
    assert "alpha composited over white" in caplog.text


def test_unsupported_dtype_is_refused():
    with pytest.raises(DataError, match=r"x\.tif.*float32"):
        to_rgb8(np.zeros((2, 2, 3), np.float32), "x.tif")
    with pytest.raises(DataError, match="unsupported shape"):
        to_rgb8(np.zeros((2, 2, 2), np.uint8), "x.png")


def test_unique_names():
    assert unique_names([Path("a/img.jpg"), Path("b/img.jpg"), Path("c.png")]) == ["img", "img-2", "c"]


def test_path_source_takes_a_folder_and_a_list(shared_data):
    ants = shared_data / "hymenoptera" / "val" / "ants"
    bees = sorted((shared_data / "hymenoptera" / "val" / "bees").glob("*.jpg"))[:2]
    files = source_files(SourceParams(source="path", path=[str(ants), *map(str, bees)]))
    assert len(files) == len(list(ants.glob("*.jpg"))) + 2
    img, _ = read_photo(files[0])
    assert img.ndim == 3 and img.dtype == np.uint8


def test_path_source_missing_entry(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        source_files(SourceParams(source="path", path=[str(tmp_path / "missing")]))


def test_origin_does_not_depend_on_where_the_checkout_lives():
    china = embedded_files()[0]
    assert origin(china, SourceParams(source="embedded")) == "scikit-learn:datasets/images/china.jpg"
    url = SourceParams(source="url", url="https://example.org/a.jpg", sha256="0" * 64)
    assert origin(Path("/home/me/.cache/reprolab/x/a.jpg"), url) == "https://example.org/a.jpg"
    assert str(Path.cwd()) not in origin(china, SourceParams(source="embedded"))
