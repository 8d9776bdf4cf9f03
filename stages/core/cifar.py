"""CIFAR-10's python tarball, read without trusting its pickles (shared by the vit and diffusion pipelines).

CIFAR-10 ships as pickled dicts of numpy arrays, and plain ``pickle.load`` on a downloaded file runs
whatever code the file names. The tarball is opened only after its md5 matched (``fetch_url``), and
even then each batch is read by :class:`NumpyOnlyUnpickler`, which refuses every global but the few
numpy needs to rebuild an array.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .errors import DataError

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and plain containers, and nothing else.

    A pickle names the callables it needs (``GLOBAL``/``STACK_GLOBAL``); :meth:`find_class` is asked
    for each, and here refuses every one outside :data:`ALLOWED`. CIFAR-10's batches (dicts of a
    uint8 array, lists of ints and strings) need only these, so a batch that asks for anything
    else (``os.system``, ``builtins.eval`` …) is refused before it can run.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # how numpy < 2 pickled an array (CIFAR-10's)
        ("numpy._core.multiarray", "_reconstruct"),  # numpy >= 2
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: not allowed (only numpy arrays may be rebuilt)")
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):
            module = "numpy._core.multiarray"  # numpy 2 moved it (the old name warns)
        return super().find_class(module, name)


def safe_unpickle(data: bytes, name: str):
    """Unpickle ``data`` with :class:`NumpyOnlyUnpickler` (Python 2 strings read as bytes).

    Raises:
        DataError: truncated or corrupt, or asks for a forbidden global; the message names ``name``.
    """
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refusing"):
            raise DataError(f"{name}: not a CIFAR-10 batch, and not read: {exc}") from None
        raise DataError(f"{name}: corrupt CIFAR-10 batch ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DataError(f"{name}: corrupt CIFAR-10 batch ({type(exc).__name__}: {str(exc)[:200]})") from None


def _field(d: dict, key: str):
    return d.get(key.encode(), d.get(key))


def parse_cifar_batch(obj, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 batch dict → images (N, 3, 32, 32) uint8 and labels (N,).

    Raises:
        DataError: not a dict with ``data`` (N, 3072) uint8 and N ``labels`` in 0..9.
    """
    if not isinstance(obj, dict):
        raise DataError(f"{name}: corrupt CIFAR-10 batch (a {type(obj).__name__}, expected a dict)")
    data, labels = _field(obj, "data"), _field(obj, "labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{name}: corrupt CIFAR-10 batch: 'data' must be uint8 (N, 3072), got {got}")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"{name}: corrupt CIFAR-10 batch: 'labels' is not a list of integers") from None
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{name}: corrupt CIFAR-10 batch: {len(data)} images but labels of shape {labels.shape} "
                        "(expected one label in 0..9 per image)")
    return data.reshape(-1, 3, 32, 32), labels  # rows are R(1024) G(1024) B(1024), each row-major


def read_cifar_tarball(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The five training batches, the test batch and the class names of a CIFAR-10 python tarball.

    Call only on a file whose checksum matched (``fetch_url`` does that); the batches are still read
    with :func:`safe_unpickle`.

    Raises:
        DataError: not a gzip tar, a batch missing, or a batch corrupt (named ``tarball:member``).
    """
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in (*CIFAR_TRAIN, CIFAR_TEST) if n not in members]
            if missing:
                raise DataError(f"{path}: not the CIFAR-10 python tarball: batch {missing[0]} missing "
                                f"(member(s) missing: {', '.join(missing)})")

            def read(n: str):
                return safe_unpickle(tar.extractfile(members[n]).read(), f"{path}:{members[n].name}")

            parts = [parse_cifar_batch(read(n), f"{path}:{members[n].name}") for n in CIFAR_TRAIN]
            test_x, test_y = parse_cifar_batch(read(CIFAR_TEST), f"{path}:{members[CIFAR_TEST].name}")
            meta = read(CIFAR_META) if CIFAR_META in members else {b"label_names": [str(i) for i in range(10)]}
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable tar archive (a tar.gz expected; {type(exc).__name__}: {exc})") from None
    names = _field(meta, "label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{path}:{CIFAR_META}: expected 'label_names', a list of 10 class names")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]), test_x, test_y, classes)
