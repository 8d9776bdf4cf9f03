"""The digits stage: idx parsing, digit selection, resizing, sources (embedded and url)."""
from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages.core.errors import DataError, DownloadError, ParamsError
from stages.core.params import validate_section
from stages.core import digits as core_digits
from stages.core.recipe import Recipe
from stages.gan import digits
from stages.core.digits import load_digits_npz
from stages.gan.params import DigitsParams, GanParams

ROOT = Path(__file__).resolve().parents[2]
MNIST_SHA = {
    "t10k-images-idx3-ubyte.gz": "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
    "t10k-labels-idx1-ubyte.gz": "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
}


def gan_section() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())["gan"]


def digits_params(**over) -> DigitsParams:
    return DigitsParams(**{**gan_section()["digits"], **over})


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool = True) -> Path:
    body = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


def test_params_yaml_gan_section_validates_and_spells_every_value():
    """The stages see exactly params.yaml's values: none coerced, none dropped, and none filled in from
    a default except the training recipe's documented ones (docs/training.md: accumulate, momentum,
    the warm-up…), which live in stages/core/recipe.py, a code dep of every stage that reads them, so
    changing one reruns those stages as a param would."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    settings = validate_section(data, "gan", GanParams)
    assert settings.model_dump(mode="json", exclude_unset=True) == data["gan"]
    optional = {name for name, field in Recipe.model_fields.items() if not field.is_required()}
    for name in ("dcgan", "sagan"):
        defaulted = set(type(getattr(settings, name)).model_fields) - set(data["gan"][name])
        assert defaulted <= optional, defaulted


@pytest.mark.parametrize("bad, match", [
    ({"image_px": 24}, "power of two"),
    ({"normal": [7, 8], "anomalous": [8]}, "both normal and anomalous"),
    ({"source": "path", "path": ["only-one"]}, "images idx file"),
])
def test_digits_params_refuse_bad_values(bad, match):
    data = {"gan": {**gan_section(), "digits": {**gan_section()["digits"], **bad}}}
    with pytest.raises(ParamsError, match=match):
        validate_section(data, "gan", GanParams)


def test_read_idx_round_trip_gz_and_raw(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(core_digits.read_idx(write_idx(tmp_path / "i.gz", images, core_digits.IDX_IMAGES)), images)
    labels = np.array([3, 1, 4], dtype=np.uint8)
    assert np.array_equal(core_digits.read_idx(write_idx(tmp_path / "l", labels, core_digits.IDX_LABELS, gz=False)), labels)


def test_read_idx_refuses_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x09\x99" + b"\x00" * 8)
    with pytest.raises(DataError, match="magic number"):
        core_digits.read_idx(bad)
    cut = tmp_path / "cut"
    cut.write_bytes(write_idx(tmp_path / "ok", np.zeros((2, 2, 2)), core_digits.IDX_IMAGES, gz=False).read_bytes()[:-1])
    with pytest.raises(DataError, match="header says"):
        core_digits.read_idx(cut)


def test_load_idx_pair_refuses_count_mismatch(tmp_path):
    i = write_idx(tmp_path / "i", np.zeros((3, 2, 2)), core_digits.IDX_IMAGES)
    lab = write_idx(tmp_path / "l", np.zeros(2), core_digits.IDX_LABELS)
    with pytest.raises(DataError, match="3 images but"):
        core_digits.load_idx_pair(i, lab)


def test_split_digits_train_and_test_are_disjoint_and_counted():
    labels = np.array([7, 8, 2, 7, 8, 2, 7, 8, 2, 7, 8, 2])
    p = digits_params(normal=[7, 8], anomalous=[2], train_per_class=2, test_per_class=1, anomalous_per_class=3)
    train, test = digits.split_digits(labels, p, "x")
    assert sorted(labels[train].tolist()) == [7, 7, 8, 8]
    assert sorted(labels[test].tolist()) == [2, 2, 2, 7, 8]  # anomalous_per_class 2s, test_per_class of each normal digit
    assert not set(train) & set(test)


def test_split_digits_refuses_too_few_images():
    with pytest.raises(DataError, match="digit 7 has 1 images"):
        digits.split_digits(np.array([7, 8, 8, 2]), digits_params(train_per_class=1, test_per_class=1), "x")


def test_resize_shape_and_range():
    images = np.random.default_rng(0).random((5, 8, 8), dtype=np.float32)
    out = core_digits.resize(images, 16)
    assert out.shape == (5, 1, 16, 16) and out.dtype == np.float32
    assert out.min() >= -1 and out.max() <= 1


def test_embedded_source_is_real_digits():
    images, labels, name = digits.load_source(digits_params())
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert "load_digits" in name and 0 <= images.min() and images.max() <= 1


def test_load_digits_npz_refuses_missing_array(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(DataError, match="labels"):
        load_digits_npz(tmp_path / "d.npz")


@pytest.fixture
def mnist_server(shared_data):
    """The shared MNIST test files over http on 127.0.0.1 (a stand-in for the real mirror)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shared_data / "mnist"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_source_downloads_mnist_with_checksums(mnist_server, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    p = digits_params(
        source="url",
        images={"url": f"{mnist_server}/t10k-images-idx3-ubyte.gz", "sha256": MNIST_SHA["t10k-images-idx3-ubyte.gz"]},
        labels={"url": f"{mnist_server}/t10k-labels-idx1-ubyte.gz", "sha256": MNIST_SHA["t10k-labels-idx1-ubyte.gz"]},
    )
    images, labels, _ = digits.load_source(p)
    assert images.shape == (10000, 28, 28) and set(np.unique(labels)) == set(range(10))
    bad = p.model_copy(update={"labels": p.labels.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(DownloadError, match="checksum"):
        digits.load_source(bad)
