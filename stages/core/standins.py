"""Stand-ins for what a course profile fetches: tiny files in the real formats, served from 127.0.0.1.

The course check (``python -m pipelines course-check``) runs every course profile end to end on a
machine without network. It replaces only what cannot be had offline: each dataset URL by a small
archive in the dataset's own format (MNIST's gzip'd idx files, CIFAR-10's python tarball, IMDb's
``aclImdb`` tarball, the hymenoptera zip, fastText's ``.vec.zip``, seaborn's titanic CSV), and each
set of pretrained weights by a random-init state dict of the exact torchvision architecture. Each
file is served over HTTP from 127.0.0.1 with its real checksum, so the download, checksum, unpacking,
parsing and key-matching code all run as they do against the real servers.

The images are crops of scikit-learn's two sample photos (china.jpg, flower.jpg: real photographs
in an installed package); the texts are gensim's labelled polarity sentences. Contents are seeded,
so a stand-in is the same bytes on every run. Nothing here can say how accurate the course's models
are: that needs the real data and weights.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Served:
    """A stand-in file: where it is served, where it lies, and its checksums."""

    url: str
    path: Path
    sha256: str
    md5: str


class Kit:
    """A folder of stand-in files served at ``base_url`` (see :func:`serve_directory`)."""

    def __init__(self, folder: str | Path, base_url: str, seed: int = 0):
        self.folder, self.base_url, self.seed = Path(folder), base_url.rstrip("/"), seed
        self.folder.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> Served:
        """Write ``data`` as ``name`` (a plain file name) and return how it is served."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"stand-in name must be a plain file name, got {name!r}")
        path = self.folder / name
        path.write_bytes(data)
        return Served(f"{self.base_url}/{name}", path, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())


@contextlib.contextmanager
def serve_directory(directory: str | Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - no access log on stderr
        pass


# -- contents ------------------------------------------------------------------------------------

def photo_crops(n: int, px: int | tuple[int, int], seed: int) -> np.ndarray:
    """``n`` RGB crops of scikit-learn's sample photos, resized to ``px`` (side, or (height, width)).

    Returns:
        (n, H, W, 3) uint8.
    """
    import cv2
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # two (427, 640, 3) uint8 RGB photographs
    h, w = (px, px) if isinstance(px, int) else px
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        side = int(rng.integers(64, min(photo.shape[:2]) + 1))
        y, x = (int(rng.integers(0, d - side + 1)) for d in photo.shape[:2])
        out[i] = cv2.resize(np.ascontiguousarray(photo[y:y + side, x:x + side]), (w, h), interpolation=cv2.INTER_AREA)
    return out


def mnist_like(per_digit: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's stand-in, shared by every digits pipeline's course check and the tests: (N, 28, 28)
    uint8 images and (N,) uint8 labels, the first ``per_digit`` of each digit of scikit-learn's real
    8x8 scans at MNIST's size and range (20x20 bicubic, centred in 28x28 with a blank border)."""
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.concatenate([np.flatnonzero(d.target == k)[:per_digit] for k in range(10)])
    scans = (d.images[idx] * (255.0 / 16.0)).astype(np.float32)  # 0..16 -> 0..255
    images = np.stack([cv2.resize(s, (20, 20), interpolation=cv2.INTER_CUBIC) for s in scans])
    images = np.pad(np.clip(images, 0, 255), ((0, 0), (4, 4), (4, 4))).round().astype(np.uint8)  # MNIST: 20x20 in 28x28
    return images, d.target[idx].astype(np.uint8)


def polarity_sentences() -> list[tuple[str, int]]:
    """gensim's labelled polarity sentences as (text, 1 positive / 0 negative)."""
    from gensim.test.utils import datapath

    rows = []
    for line in Path(datapath("pang_lee_polarity.cor")).read_bytes().decode("cp1252").splitlines():
        label, _, text = line.partition(" ")
        if text.strip():
            rows.append((text.strip(), 1 if label == "__label__pos" else 0))
    return rows


# -- formats -------------------------------------------------------------------------------------

def idx_gz(array: np.ndarray) -> bytes:
    """An unsigned-byte idx file (MNIST's format: magic 0x08 0x<ndim>, big-endian dims), gzip'd."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def _tar(members: dict[str, bytes]) -> bytes:
    """A .tar.gz of ``members``: the same bytes on every call (no time in the tar or the gzip header)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)  # tarfile's "w:gz" writes the current time into the header


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar10_tarball(train_per_class: int, test_per_class: int, seed: int) -> bytes:
    """``cifar-10-python.tar.gz``'s layout: ``cifar-10-batches-py/`` with five training batches, the
    test batch and ``batches.meta``, each a pickled dict (``data`` (N, 3072) uint8 rows R, G, B
    row-major; ``labels``; ``batch_label``; ``filenames``), as the original's."""
    def batch(images: np.ndarray, labels: list[int], label: str) -> bytes:
        data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # (N, 32, 32, 3) -> (N, 3072)
        return pickle.dumps({b"batch_label": label.encode(), b"labels": labels, b"data": data,
                             b"filenames": [f"standin_{i}.png".encode() for i in range(len(labels))]}, protocol=2)

    train_labels = [c for c in range(10) for _ in range(train_per_class)]
    test_labels = [c for c in range(10) for _ in range(test_per_class)]
    images = photo_crops(len(train_labels) + len(test_labels), 32, seed)
    train, test = images[:len(train_labels)], images[len(train_labels):]
    members = {}
    for b, idx in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        members[f"cifar-10-batches-py/data_batch_{b}"] = batch(train[idx], [train_labels[i] for i in idx],
                                                               f"training batch {b} of 5")
    members["cifar-10-batches-py/test_batch"] = batch(test, test_labels, "testing batch 1 of 1")
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_cases_per_batch": len(train_labels) // 5,
         b"num_vis": 3072}, protocol=2)
    return _tar(members)


def image_folder_zip(root: str, classes: list[str], per_split: dict[str, int], seed: int,
                     px: tuple[int, int] = (375, 500)) -> bytes:
    """A zip of ``root/<split>/<class>/<n>.jpg`` (the hymenoptera_data.zip layout), JPEG photos of
    ImageNet-like size (``px`` = (height, width))."""
    import cv2

    members = {}
    k = 0
    for split, n in per_split.items():
        for cls in classes:
            for img in photo_crops(n, px, seed + k):
                k += 1
                ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
                assert ok, "OpenCV could not encode a JPEG"
                members[f"{root}/{split}/{cls}/{k:05d}.jpg"] = jpg.tobytes()
    return _zip(members)


def aclimdb_tarball(per_split_label: int) -> bytes:
    """``aclImdb_v1.tar.gz``'s layout: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, one review
    a file (gensim's labelled sentences, ratings 7-10 positive and 1-4 negative as IMDb's)."""
    rows = polarity_sentences()
    members = {}
    by_label = {lab: [t for t, y in rows if y == (lab == "pos")] for lab in ("pos", "neg")}
    for s, split in enumerate(("train", "test")):
        for label, texts in by_label.items():
            for i in range(per_split_label):
                text = texts[(s * per_split_label + i) % len(texts)]
                rating = 7 + i % 4 if label == "pos" else 1 + i % 4
                members[f"aclImdb/{split}/{label}/{i}_{rating}.txt"] = text.encode()
    members["aclImdb/README"] = b"Large Movie Review Dataset v1.0 (stand-in layout)\n"
    return _tar(members)


def vec_zip(member: str, words: list[str], dim: int, seed: int) -> bytes:
    """fastText's text vectors (``N dim`` header, then ``word v1 ... v_dim``) zipped as ``member``."""
    rng = np.random.default_rng(seed)
    lines = [f"{len(words)} {dim}"]
    for w in words:
        lines.append(w + " " + " ".join(f"{v:.4f}" for v in rng.normal(0, 0.1, dim)))
    return _zip({member: ("\n".join(lines) + "\n").encode()})


def state_dict_bytes(model) -> bytes:
    """``torch.save`` of a model's state dict (what torchvision publishes for its weights)."""
    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def torchvision_weights(arch: str, seed: int) -> bytes:
    """A random-init state dict of torchvision's ``arch`` (``vgg16``, ``vit_b_16`` …): the exact
    architecture, names and shapes of the published ImageNet weights, none of their values."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    return state_dict_bytes(torchvision.models.get_model(arch, weights=None))
