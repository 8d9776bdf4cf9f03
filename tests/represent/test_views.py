"""The cached views: the affine matrix, the views' bytes for a seed, the embedded split, and STL-10's
binary tarball read back from a stand-in of its layout, with its refusals."""
import hashlib

import numpy as np
import pytest

from stages.core.errors import DataError
from stages.represent.augment import affine_matrix, random_views
from stages.represent.stl10 import read_stl10_tarball, standin_tarball
from stages.represent.views import make_views, source_splits
from tests.conftest import committed_params_with

TRANSFORM = {"degrees": 25, "scale": (0.8, 1.15), "shear": 0.25, "shift_px": 3, "noise": 20}


def test_the_identity_transform_maps_centre_to_centre_and_scales_the_image_up():
    m = affine_matrix(8, 24, 0.0, 1.0, 0.0, (0.0, 0.0))
    assert np.allclose(m[:, :2], 3 * np.eye(2))
    assert np.allclose(m @ np.array([3.5, 3.5, 1.0]), [11.5, 11.5])  # pixel centres: 8x8's centre → 24x24's
    assert np.all(np.round(m * 1024) == m * 1024)  # multiples of 1/1024 (module docstring)
    r = affine_matrix(8, 8, 90.0, 1.0, 0.0, (1.0, 0.0))
    assert np.allclose(r[:, :2], [[0, 1], [-1, 0]]) and np.allclose(r @ np.array([3.5, 3.5, 1.0]), [4.5, 3.5])


def test_views_without_randomness_are_the_scaled_image_and_a_seed_gives_the_same_bytes():
    img = np.zeros((1, 1, 8, 8), np.uint8)
    img[0, 0, 2:6, 3:5] = 255
    still = random_views(img, 2, 24, np.random.default_rng(0), degrees=0, scale=(1, 1), shear=0, shift_px=0, noise=0)
    assert still.shape == (1, 2, 1, 24, 24) and (still[0, 0] == still[0, 1]).all()
    assert still[0, 0, 0, 12, 12] == 255 and still[0, 0, 0, 0, 0] == 0 and still[0, 0, 0, 12, 2] == 0
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    a = random_views(imgs, 3, 12, np.random.default_rng(7), **TRANSFORM)
    b = random_views(imgs, 3, 12, np.random.default_rng(7), **TRANSFORM)
    assert a.shape == (5, 3, 3, 12, 12) and a.dtype == np.uint8 and (a == b).all()
    assert not (a[:, 0] == a[:, 1]).all()  # views differ
    with pytest.raises(ValueError, match="square uint8"):
        random_views(imgs.astype(np.float32), 1, 12, rng, **TRANSFORM)


def test_the_embedded_views_are_the_same_bytes_on_every_cpu():
    """The views of the first 20 training digits (drawn in the stage's order) as a sha256. OpenCV's
    AVX2 warp gave other bytes than its baseline one (augment.py's docstring); the stage uses the
    baseline on every CPU (``cv2.setUseOptimized(False)``), so this digest, the same with AVX2 enabled or
    disabled (``OPENCV_CPU_DISABLE=AVX2``), holds on any x86-64 host; OpenCV's setting is left as it was."""
    import cv2

    from stages.represent.params import RepresentParams
    from stages.core.params import validate_section

    p = validate_section(committed_params_with("represent.views.max_train_per_class", None), "represent", RepresentParams).views
    splits, classes, _ = source_splits(p, 42)
    assert len(splits["train"][1]) == 1347 and len(splits["test"][1]) == 450 and classes[3] == "3"
    small = {"train": (splits["train"][0][:20], splits["train"][1][:20]), "test": (splits["test"][0][:5], splits["test"][1][:5])}
    train, test = make_views(small, p, 42)
    assert train.shape == (20, 8, 1, 24, 24) and test.shape == (5, 1, 24, 24)
    digest = hashlib.sha256(train.tobytes() + test.tobytes()).hexdigest()
    assert cv2.useOptimized()
    assert digest == "cd06f55384ef3b3ad27f5b227bdc085d21993fdaf0fa1f0b3162a3ed0ab3c767"


def test_stl10_tarball_reads_back_images_labels_and_class_names(tmp_path):
    path = tmp_path / "stl10_binary.tar.gz"
    path.write_bytes(standin_tarball(train_per_class=2, test_per_class=1, seed=0))
    train_x, train_y, test_x, test_y, classes = read_stl10_tarball(path)
    assert train_x.shape == (20, 3, 96, 96) and test_x.shape == (10, 3, 96, 96)
    assert train_y.tolist() == [c for c in range(10) for _ in range(2)] and classes[2] == "car"
    from stages.core.standins import photo_crops
    assert (train_x[0].transpose(1, 2, 0) == photo_crops(30, 96, 0)[0]).all()  # column-major undone: the photo upright


def _tar(members: dict[str, bytes]) -> bytes:
    """A .tar.gz of ``members`` under ``stl10_binary/`` (core's stand-in writer)."""
    from stages.core.standins import _tar as tar_gz

    return tar_gz({f"stl10_binary/{name}": body for name, body in members.items()})


def test_a_broken_stl10_tarball_is_one_line_naming_the_member(tmp_path):
    image = bytes(3 * 96 * 96)
    good = {"train_X.bin": image * 2, "train_y.bin": bytes([1, 2]), "test_X.bin": image, "test_y.bin": bytes([3])}
    cases = [({k: v for k, v in good.items() if k != "test_y.bin"}, "stl10_binary/test_y.bin missing"),
             ({**good, "train_X.bin": image + b"x"}, "train_X.bin: 27649 bytes is not a whole number"),
             ({**good, "train_y.bin": bytes([1])}, "train_y.bin: 1 labels for 2 images"),
             ({**good, "test_y.bin": bytes([11])}, "test_y.bin: labels must be 1..10")]
    for members, message in cases:
        with pytest.raises(DataError, match=message) as err:
            (tmp_path / "bad.tar").write_bytes(_tar(members))
            read_stl10_tarball(tmp_path / "bad.tar")
        assert "\n" not in str(err.value) and "bad.tar" in str(err.value)
    with pytest.raises(DataError, match="not a readable tar archive"):
        (tmp_path / "page.tar.gz").write_bytes(b"<html>not found</html>")
        read_stl10_tarball(tmp_path / "page.tar.gz")
