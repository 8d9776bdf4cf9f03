"""The one digits loader (stages.core.digits) and the one checksum-verified download (RemoteFile)."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from stages.core import digits, standins
from stages.core.errors import DataError, ParamsError
from stages.core.params import PowerOfTwo, RemoteFile, validate_section

SHA = "a" * 64
MNIST = RemoteFile(url="http://127.0.0.1/x.gz", sha256=SHA)


def test_embedded_sources_agree():
    images, labels, name = digits.load_source("embedded", MNIST, MNIST, [], "x.path")
    scans, scan_labels = digits.load_embedded_uint8()
    assert name == digits.EMBEDDED and images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert scans.dtype == np.uint8 and scans.max() == 255 and np.array_equal(labels, scan_labels)
    assert np.abs(images * 255 - scans).max() <= 0.5 + 1e-4  # the same scans, in [0, 1] and in bytes


def test_embedded_digits_are_scikit_learns_load_digits_exactly():
    from sklearn.datasets import load_digits

    d = load_digits()
    images, target = digits._embedded_digits()
    assert images.dtype == d.images.dtype and np.array_equal(images, d.images)
    assert target.dtype == d.target.dtype and np.array_equal(target, d.target)
    scans, labels = digits.load_embedded()
    assert np.array_equal(scans, (d.images / 16.0).astype(np.float32)) and np.array_equal(labels, d.target)


def test_path_source_reads_an_idx_pair(tmp_path):
    images, labels = standins.mnist_like(2)
    (tmp_path / "i.gz").write_bytes(standins.idx_gz(images))
    (tmp_path / "l.gz").write_bytes(standins.idx_gz(labels))
    x, y, name = digits.load_source("path", MNIST, MNIST, [str(tmp_path / "i.gz"), str(tmp_path / "l.gz")], "x.path")
    assert x.shape == (20, 28, 28) and np.array_equal(y, labels) and name == str(tmp_path / "i.gz")


def test_path_source_names_the_missing_file_and_key(tmp_path):
    with pytest.raises(DataError, match=r"nope\.gz: no such file \(diffusion\.data\.path\)"):
        digits.load_source("path", MNIST, MNIST, [str(tmp_path / "nope.gz"), str(tmp_path / "l")], "diffusion.data.path")


def test_remote_file_takes_one_checksum():
    assert MNIST.checksum == f"sha256:{SHA}"
    assert RemoteFile(url="u", md5="b" * 32).checksum == "md5:" + "b" * 32
    for bad, message in [({}, "sha256 is not a 64-digit"), ({"sha256": "xyz"}, "sha256 is not a 64-digit"),
                         ({"md5": "xyz"}, "md5 is not a 32-digit"), ({"sha256": SHA, "md5": "b" * 32}, "not both")]:
        with pytest.raises(ValidationError, match=message):
            RemoteFile(url="u", **bad)


def test_a_bad_checksum_in_params_names_its_key():
    from stages.diffusion.params import DataParams

    with pytest.raises(ParamsError, match=r"params\.yaml: d\.cifar10: Value error, md5 is not a 32-digit"):
        validate_section({"d": {"dataset": "cifar10", "source": "url", "mnist_images": {"url": "u", "sha256": SHA},
                                "mnist_labels": {"url": "u", "sha256": SHA}, "cifar10": {"url": "u", "md5": "0"},
                                "path": [], "image_px": 8, "heldout_per_class": 2, "train_per_class": 0}},
                         "d", DataParams, "params.yaml")


def test_a_remote_file_dumps_the_checksum_it_was_given():
    """params dumps must equal params.yaml (DVC hashes what the file holds): no ``md5: null`` added."""
    assert MNIST.model_dump(mode="json") == {"url": "http://127.0.0.1/x.gz", "sha256": SHA}
    assert RemoteFile(url="u", md5="b" * 32).model_dump() == {"url": "u", "md5": "b" * 32}


def test_read_npz_names_the_missing_array(tmp_path):
    from stages.core.arrays import read_npz

    np.savez(tmp_path / "a.npz", images=np.zeros((2, 1, 4, 4)), extra=np.ones(2))
    assert read_npz(tmp_path / "a.npz", ("images",))["images"].shape == (2, 1, 4, 4)
    with pytest.raises(DataError, match=r"a\.npz: array\(s\) missing: labels \(found: images, extra\)"):
        read_npz(tmp_path / "a.npz")
    with pytest.raises(DataError, match="image split not found"):
        read_npz(tmp_path / "none.npz", what="image split")


def test_power_of_two_bounds():
    from pydantic import TypeAdapter

    side = TypeAdapter(PowerOfTwo(8, 64))
    assert side.validate_python(16) == 16
    for bad in (4, 12, 128):
        with pytest.raises(ValidationError, match="power of two from 8 to 64"):
            side.validate_python(bad)
