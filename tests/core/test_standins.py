"""The course check's stand-ins: each is read back by the pipeline's own reader, the same bytes every run."""
from __future__ import annotations

import urllib.request

import numpy as np
import pytest

from stages.core import standins


def test_kit_serves_what_it_puts_with_its_checksums(tmp_path):
    import hashlib

    with standins.serve_directory(tmp_path) as base:
        served = standins.Kit(tmp_path, base).put("a.bin", b"abc")
        assert urllib.request.urlopen(served.url).read() == b"abc"
    assert served.sha256 == hashlib.sha256(b"abc").hexdigest() and served.md5 == hashlib.md5(b"abc").hexdigest()
    with pytest.raises(ValueError, match="plain file name"):
        standins.Kit(tmp_path, base).put("../escape", b"")


def test_idx_round_trips_through_the_digits_reader(tmp_path):
    from stages.core.digits import load_idx_pair

    images, labels = standins.mnist_like(3)
    (tmp_path / "i.gz").write_bytes(standins.idx_gz(images))
    (tmp_path / "l.gz").write_bytes(standins.idx_gz(labels))
    got_x, got_y = load_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz")
    assert got_x.shape == (30, 28, 28) and np.array_equal(np.round(got_x * 255), images) and np.array_equal(got_y, labels)
    assert images[:, :4].max() == 0 and images.max() > 200  # MNIST's layout: a blank border, ink near 255


def test_cifar_tarball_is_read_by_the_numpy_only_reader(tmp_path):
    from stages.core.cifar import read_cifar_tarball

    data = standins.cifar10_tarball(train_per_class=2, test_per_class=1, seed=0)
    assert data == standins.cifar10_tarball(train_per_class=2, test_per_class=1, seed=0)  # the same bytes
    (tmp_path / "c.tar.gz").write_bytes(data)
    train_x, train_y, test_x, test_y, classes = read_cifar_tarball(tmp_path / "c.tar.gz")
    assert train_x.shape == (20, 3, 32, 32) and test_x.shape == (10, 3, 32, 32)
    assert sorted(np.bincount(train_y)) == [2] * 10 and classes[0] == "airplane"


def test_image_folder_zip_is_the_transfer_layout(tmp_path):
    from stages.transfer.data import extract_zip
    from stages.transfer.images import scan_folder

    (tmp_path / "h.zip").write_bytes(standins.image_folder_zip("hymenoptera_data", ["ants", "bees"],
                                                                {"train": 2, "val": 1}, seed=0, px=(60, 80)))
    (tmp_path / "x").mkdir()
    root, _ = extract_zip(tmp_path / "h.zip", tmp_path / "x", "h.zip")
    folder = scan_folder(root)
    assert folder.classes == ("ants", "bees")
    assert [len(folder.files[s]) for s in ("train", "val")] == [4, 2]


def test_aclimdb_tarball_and_vectors_are_read_by_the_nlp_readers(tmp_path):
    from stages.nlp.text import read_aclimdb_tar
    from stages.nlp.vectors import read_vec

    (tmp_path / "a.tar.gz").write_bytes(standins.aclimdb_tarball(3))
    splits = read_aclimdb_tar(tmp_path / "a.tar.gz")
    assert {k: sorted(y for _, y in v) for k, v in splits.items()} == {"train": [0, 0, 0, 1, 1, 1], "test": [0, 0, 0, 1, 1, 1]}
    (tmp_path / "v.vec.zip").write_bytes(standins.vec_zip("v.vec", ["good", "bad"], 8, seed=0))
    vectors = read_vec(tmp_path / "v.vec.zip", {"good", "film"}, 8)
    assert set(vectors) == {"good"} and vectors["good"].shape == (8,)


def test_torchvision_weights_are_the_exact_architecture(tmp_path):
    import torchvision

    from stages.core.weights import load_state_dict

    (tmp_path / "w.pth").write_bytes(standins.torchvision_weights("mobilenet_v3_small", seed=0))
    state = load_state_dict(tmp_path / "w.pth")
    expected = torchvision.models.mobilenet_v3_small().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in expected.items()}
