"""vit-data's sources: CIFAR-10 tarballs served on 127.0.0.1 (md5 first, then the batches read by an
unpickler that rebuilds numpy arrays only), ImageFolders, the split; params errors with their key path."""
from __future__ import annotations

import copy
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages.core.errors import DataError, DownloadError, ParamsError
from stages.core.params import validate_section
from stages.vit.params import DataParams, VitParams
from stages.vit.prepare import CIFAR_TEST, CIFAR_TRAIN, build_splits, load_image_folder, safe_unpickle
from tests.conftest import ROOT, serve_directory

PER_BATCH = 20  # images per batch of the tiny tarball: 100 training, 20 test
NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def batch(seed: int, n: int = PER_BATCH) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch %d" % seed, b"labels": [int(i % 10) for i in range(n)],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"filenames": [b"img_%d.png" % i for i in range(n)]}


def tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_members() -> dict[str, bytes]:
    # protocol 2, as CIFAR-10's own batches (written by Python 2's cPickle)
    members = {name: pickle.dumps(batch(i), protocol=2) for i, name in enumerate((*CIFAR_TRAIN, CIFAR_TEST))}
    members["batches.meta"] = pickle.dumps({b"label_names": NAMES, b"num_cases_per_batch": PER_BATCH}, protocol=2)
    return members


def data_params(url: str, md5: str, **kw) -> DataParams:
    return DataParams(**{"source": "url", "url": url, "md5": md5, "image_px": 32, "val_fraction": 0.2,
                         "test_fraction": 0.2, "max_train_per_class": None, **kw})


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """serve(bytes) → (url, md5) of that tarball on 127.0.0.1; downloads cached under tmp_path."""
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    with serve_directory(site) as base:
        def put(data: bytes, name: str = "cifar-10-python.tar.gz") -> tuple[str, str]:
            (site / name).write_bytes(data)
            return f"{base}/{name}", hashlib.md5(data).hexdigest()
        yield put


def test_cifar_tarball_from_127_0_0_1_is_checked_then_read(serve):
    url, md5 = serve(tarball(cifar_members()))
    splits, classes, name = build_splits(data_params(url, md5), seed=0)
    assert classes == [n.decode() for n in NAMES] and name == url
    assert len(splits["train"][0]) + len(splits["val"][0]) == 5 * PER_BATCH and len(splits["test"][0]) == PER_BATCH
    assert len(splits["val"][0]) == 20 and np.bincount(splits["val"][1]).tolist() == [2] * 10  # stratified
    # the test batch, pixel for pixel: the 3072 bytes of a row are the R, G and B planes, each row-major
    raw = batch(5)
    x = splits["test"][0]
    assert x.shape == (PER_BATCH, 3, 32, 32) and x.dtype == np.uint8
    assert x[3, 1, 7, 9] == raw[b"data"][3, 1024 + 7 * 32 + 9]
    assert splits["test"][1].tolist() == raw[b"labels"]


def test_cifar_resized_and_capped(serve):
    url, md5 = serve(tarball(cifar_members()))
    splits, _, _ = build_splits(data_params(url, md5, image_px=16, max_train_per_class=3), seed=0)
    assert splits["train"][0].shape[1:] == (3, 16, 16) and np.bincount(splits["train"][1]).tolist() == [3] * 10


def test_wrong_md5_is_refused_before_reading(serve):
    url, _ = serve(tarball(cifar_members()))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        build_splits(data_params(url, "0" * 32), seed=0)


def test_corrupt_batch_is_a_clear_error(serve):
    members = cifar_members()
    members["data_batch_3"] = members["data_batch_3"][:500]  # truncated
    url, md5 = serve(tarball(members))  # its md5 matches: the archive is as published, the batch inside is broken
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz:cifar-10-batches-py/data_batch_3: corrupt CIFAR-10 batch"):
        build_splits(data_params(url, md5), seed=0)


def test_batch_of_the_wrong_shape_is_a_clear_error(serve):
    members = cifar_members()
    bad = batch(1)
    bad[b"data"] = bad[b"data"][:, :100]
    members["data_batch_2"] = pickle.dumps(bad, protocol=2)
    url, md5 = serve(tarball(members))
    with pytest.raises(DataError, match=r"data_batch_2: corrupt CIFAR-10 batch: 'data' must be uint8 \(N, 3072\)"):
        build_splits(data_params(url, md5), seed=0)


class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_even_with_a_matching_checksum(serve, tmp_path):
    marker = tmp_path / "ran"
    members = cifar_members()
    members["data_batch_1"] = pickle.dumps({b"data": Payload(marker)}, protocol=2)
    url, md5 = serve(tarball(members))
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR-10 batch, and not read: refusing global (posix|os)\.system"):
        build_splits(data_params(url, md5), seed=0)
    assert not marker.exists()
    with pytest.raises(DataError, match="refusing global builtins.eval"):
        safe_unpickle(b"cbuiltins\neval\n(S'1'\ntR.", "x.pkl")


def test_not_the_cifar_tarball(serve):
    members = cifar_members()
    del members["test_batch"]
    url, md5 = serve(tarball(members))
    with pytest.raises(DataError, match="member\\(s\\) missing: test_batch"):
        build_splits(data_params(url, md5), seed=0)


def test_image_folder_resized_with_a_warning_and_bad_file_named(tmp_path, caplog):
    from PIL import Image

    root = tmp_path / "images"
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            side = (12, 8) if i == 0 else (8, 8)  # one image of another size per class
            Image.new("RGB", side, color=(40 * c, 10 * i, 0)).save(root / name / f"{i}.png")
    x, y, classes = load_image_folder([str(root)], 8)
    assert x.shape == (10, 3, 8, 8) and classes == ["cat", "dog"] and y.tolist() == [0] * 5 + [1] * 5
    assert "2 of 10 images were not 8x8 and were resized" in caplog.text
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        load_image_folder([str(root)], 8)


def image_folder(root, classes=("cat", "dog"), n=3):
    from PIL import Image

    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), color=(40 * c, 10 * i, 0)).save(root / name / f"{i}.png")
    return root


def test_image_folder_refuses_a_decompression_bomb_naming_the_file_and_the_limit(tmp_path):
    from tests.transfer.test_images import huge_png

    root = image_folder(tmp_path / "images")
    (root / "dog" / "huge.png").write_bytes(huge_png(20000, 20000))
    with pytest.raises(DataError, match=r"images/dog/huge.png: image has 400,000,000 pixels, above the limit of 89,478,485"):
        load_image_folder([str(root)], 8)


def test_image_folder_refuses_one_class_and_an_empty_class_naming_the_folder(tmp_path):
    root = image_folder(tmp_path / "one", classes=("cat",))
    (root / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    with pytest.raises(DataError, match=r"one: 1 class folder \(cat\); a classifier needs at least two classes"):
        load_image_folder([str(root)], 8)
    (root / "dog").mkdir()
    (root / "dog" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataError, match=r"one/dog: class folder holds no images"):
        load_image_folder([str(root)], 8)


def params_with(section: str, **model) -> dict:
    data = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    node = data["vit"]
    for key in section.split("."):
        node = node[key]
    node.update(model)
    return data


@pytest.mark.parametrize("section, change, key", [
    ("model", {"num_patch_row": 3}, "vit.model.num_patch_row: Value error, must divide image_size 16"),
    ("model", {"head": 5}, "vit.model.head: Value error, must divide emb_dim 64"),
    ("finetune.model", {"head": 7}, "vit.finetune.model.head: Value error, must divide emb_dim 768"),
    ("finetune.model", {"num_patch_row": 15}, "vit.finetune.model.num_patch_row: Value error, must divide image_size 224")])
def test_shapes_that_do_not_fit_are_params_errors_with_the_key(section, change, key):
    with pytest.raises(ParamsError, match=key):
        validate_section(params_with(section, **change), "vit", VitParams)


def test_committed_params_validate():
    validate_section(yaml.safe_load((ROOT / "params.yaml").read_text()), "vit", VitParams)
