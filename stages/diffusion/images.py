"""Image data for the diffusion pipeline: CIFAR-10's python archive, read safely, and the npz files
`diffusion-data` writes.

A library module (the data, judge, train and evaluate stages import it). The digits come from the gan
pipeline's loaders (:mod:`stages.gan.data`), not from a copy of them.

CIFAR-10 ships as pickled dicts of numpy arrays. Plain ``pickle.load`` on a downloaded file runs any
code the file names; :class:`NumpyOnlyUnpickler` resolves only the few numpy globals an array needs
and refuses every other, so a tampered archive fails with a :class:`DataError` instead of running.
The archive is also checked against its published md5 before it is opened (``fetch_url``).
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.io import require_file

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
# What an ndarray's pickle names (numpy 1 wrote numpy.core, numpy 2 writes numpy._core); protocol-2
# pickles written by Python 3 spell bytes as _codecs.encode(str, "latin1") (torch's weights_only allows it too).
ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed (only numpy arrays are)")
        return super().find_class(module, name)


def safe_unpickle(data: bytes, what: str) -> object:
    """Unpickle ``data`` with :class:`NumpyOnlyUnpickler` (python 2 pickles: bytes keys).

    Raises:
        DataError: the pickle names a forbidden global or is not a pickle.
    """
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DataError(f"{what}: refused or unreadable pickle ({exc})") from None


def read_cifar10(archive: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Every image of CIFAR-10's ``cifar-10-python.tar.gz`` (training batches, then the test batch).

    Returns:
        images (N, 32, 32, 3) float32 in [0, 1], labels (N,) int64.

    Raises:
        DataError: not a tar archive, a batch missing, or a batch without ``data``/``labels``.
    """
    archive = require_file(archive, "CIFAR-10 archive")
    images, labels = [], []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for batch in CIFAR_BATCHES:
                if batch not in members:
                    raise DataError(f"{archive}: batch {batch} missing (found: {', '.join(sorted(members)) or 'nothing'})")
                d = safe_unpickle(tar.extractfile(members[batch]).read(), f"{archive}:{batch}")
                if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
                    raise DataError(f"{archive}:{batch}: expected a dict with 'data' and 'labels'")
                data = np.asarray(d[b"data"])
                if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(d[b"labels"]):
                    raise DataError(f"{archive}:{batch}: data must be (N, 3072) with one label each, got {data.shape}")
                images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(d[b"labels"], dtype=np.int64))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: not a readable tar archive ({exc})") from None
    return (np.concatenate(images) / 255.0).astype(np.float32), np.concatenate(labels)


def to_model_range(images: np.ndarray, image_px: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) in [0, 1] → (N, C, image_px, image_px) float32 in [-1, 1] (gan's resize per channel)."""
    from stages.gan.data import resize

    if images.ndim == 3:
        return resize(images, image_px)
    n, h, w, c = images.shape
    planes = resize(images.transpose(0, 3, 1, 2).reshape(n * c, h, w), image_px)  # (N*C, 1, S, S)
    return planes.reshape(n, c, image_px, image_px)


def load_images_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, S, S) float32 in [-1, 1] and labels (N,) of an npz written by `diffusion-data`.

    Raises:
        DataError: an array is missing or has the wrong shape.
    """
    path = require_file(path, "images npz")
    with np.load(path) as z:
        missing = [k for k in ("images", "labels") if k not in z.files]
        if missing:
            raise DataError(f"{path}: array(s) missing: {', '.join(missing)} (found: {', '.join(z.files)})")
        images, labels = z["images"], z["labels"]
    if images.ndim != 4 or images.shape[2] != images.shape[3] or len(images) == 0 or len(labels) != len(images):
        raise DataError(f"{path}: images must be (N, C, S, S) with N >= 1 and one label each, got {images.shape}")
    return images, labels
