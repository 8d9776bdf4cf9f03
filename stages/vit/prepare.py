"""Stage `vit-data`: labelled images for the ViT, split into train / val / test.

Sources (``vit.data.source``):
- ``embedded``: scikit-learn's 1,797 handwritten digits (real 8x8 scans shipped with the package),
  upsampled to ``image_px``; 1 channel, 10 classes.
- ``url``: the CIFAR-10 python tarball (50,000 training and 10,000 test 32x32 colour images). Its
  md5 (the only checksum CIFAR-10 publishes) is checked before the archive is opened. Its batches are
  pickles; even checked, they are read by :class:`NumpyOnlyUnpickler`, which refuses every global but
  the three that rebuild a numpy array, so no pickle can run code here, whatever it contains.
- ``path``: an ImageFolder: one sub-folder per class (its name is the class), images inside.

Image size: every image is stored at ``image_px`` x ``image_px``. Images of another size (an
ImageFolder of photos; CIFAR-10 when image_px is not 32) are resized (bilinear) and the count is
logged as a warning; nothing is refused for its size. Non-square images are squashed, not cropped.

Splits are stratified and seeded (``common.seed``): ``test_fraction`` of all images is held out
(CIFAR-10: its own test batch instead), then ``val_fraction`` of the rest; ``max_train_per_class``
caps the training images of each class (the first ones, in file order). Pixels stay uint8; the
training split's per-channel mean and std go into ``summary.json`` (fitted on train only).
"""
from __future__ import annotations

import io
import logging
import pickle
import tarfile
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import expand_paths, fetch_url
from stages.core.stage import Declared
from stages.vit import params
from stages.vit.params import DataParams

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"


# ---- sources --------------------------------------------------------------------------------------

def resize_uint8(images: np.ndarray, side: int) -> np.ndarray:
    """(N, C, H, W) uint8 or float in [0, 1] → (N, C, side, side) uint8, bilinear (antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.shape[-2:] != (side, side):
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=side < x.shape[-1])
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def load_embedded() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's digits: (1797, 1, 8, 8) float in [0, 1], labels, class names."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64), [str(i) for i in range(10)]


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
            raise pickle.UnpicklingError(f"refusing global {module}.{name} (only numpy arrays may be rebuilt)")
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
            missing = [n for n in (*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META) if n not in members]
            if missing:
                raise DataError(f"{path}: not the CIFAR-10 python tarball: member(s) missing: {', '.join(missing)}")

            def read(n: str):
                return safe_unpickle(tar.extractfile(members[n]).read(), f"{path}:{members[n].name}")

            parts = [parse_cifar_batch(read(n), f"{path}:{members[n].name}") for n in CIFAR_TRAIN]
            test_x, test_y = parse_cifar_batch(read(CIFAR_TEST), f"{path}:{members[CIFAR_TEST].name}")
            meta = read(CIFAR_META)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable tar.gz archive ({type(exc).__name__}: {exc})") from None
    names = _field(meta, "label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{path}:{CIFAR_META}: expected 'label_names', a list of 10 class names")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]), test_x, test_y, classes)


def load_image_folder(entries: list[str], side: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An ImageFolder (``root/<class>/<image>``) as (N, 3, side, side) uint8, labels, class names.

    Raises:
        DataError: no class folders, a class with no image, or an unreadable image (named).
    """
    from PIL import Image, UnidentifiedImageError

    images, labels, classes, resized = [], [], [], 0
    for entry in entries:
        root = Path(entry).expanduser()
        if not root.is_dir():
            raise DataError(f"{root}: not a folder (vit.data.path lists ImageFolder roots: one sub-folder per class)")
        folders = sorted(d for d in root.iterdir() if d.is_dir())
        if not folders:
            raise DataError(f"{root}: no class sub-folders (ImageFolder layout: {root}/<class>/<image>)")
        for folder in folders:
            if folder.name not in classes:
                classes.append(folder.name)
            for f in expand_paths([str(folder)], IMAGE_SUFFIXES):
                try:
                    with Image.open(f) as im:
                        im = im.convert("RGB")
                        if im.size != (side, side):
                            resized += 1
                            im = im.resize((side, side), Image.BILINEAR)
                        images.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
                except (UnidentifiedImageError, OSError, ValueError) as exc:
                    raise DataError(f"{f}: not a readable image ({type(exc).__name__}: {exc})") from None
                labels.append(classes.index(folder.name))
    if resized:
        log.warning("%d of %d images were not %dx%d and were resized to it (vit.data.image_px)", resized, len(images), side, side)
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


# ---- splitting --------------------------------------------------------------------------------------

def stratified_split(labels: np.ndarray, fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): ``fraction`` of every class held out, seeded.

    Raises:
        DataError: a class too small to appear on both sides.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount(labels)
    if (counts[counts > 0] < 2).any():
        raise DataError(f"{name}: class(es) {np.flatnonzero((counts > 0) & (counts < 2)).tolist()} have fewer than 2 images; "
                        "a stratified split needs at least 2 per class")
    try:
        kept, held = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise DataError(f"{name}: cannot split {len(labels)} images stratified ({exc})") from None
    return np.sort(kept), np.sort(held)


def cap_per_class(index: np.ndarray, labels: np.ndarray, cap: int | None) -> np.ndarray:
    """The first ``cap`` indices of each class (all when ``cap`` is None), in order."""
    if cap is None:
        return index
    keep = np.concatenate([index[labels[index] == c][:cap] for c in np.unique(labels[index])])
    return np.sort(keep)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units, rounded to 6 digits (stable JSON)."""
    x = images.astype(np.float64) / 255.0
    return ([round(float(v), 6) for v in x.mean(axis=(0, 2, 3))],
            [round(max(float(v), 1e-6), 6) for v in x.std(axis=(0, 2, 3))])


def build_splits(p: DataParams, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], str]:
    """The three splits (images uint8 (N, C, S, S), labels), the class names and the source's name."""
    if p.source == "url":
        path = fetch_url(p.url, p.checksum, deadline=p.deadline_seconds)
        train_x, train_y, test_x, test_y, classes = read_cifar_tarball(path)
        name = p.url
        if p.image_px != 32:
            log.warning("CIFAR-10 images are 32x32; resizing all %d to %dx%d (vit.data.image_px)",
                        len(train_x) + len(test_x), p.image_px, p.image_px)
            train_x, test_x = resize_uint8(train_x, p.image_px), resize_uint8(test_x, p.image_px)
    else:
        if p.source == "embedded":
            images, labels, classes = load_embedded()
            images, name = resize_uint8(images, p.image_px), "sklearn.datasets.load_digits"
        else:
            images, labels, classes = load_image_folder(p.path, p.image_px)
            name = ", ".join(p.path)
        pool, test = stratified_split(labels, p.test_fraction, seed, name)
        train_x, train_y, test_x, test_y = images[pool], labels[pool], images[test], labels[test]
    fit, val = stratified_split(train_y, p.val_fraction, seed, name)
    fit = cap_per_class(fit, train_y, p.max_train_per_class)
    splits = {"train": (train_x[fit], train_y[fit]), "val": (train_x[val], train_y[val]), "test": (test_x, test_y)}
    return splits, classes, name


def main(stage: Declared) -> None:
    p, common = params.load().data, load_common()
    splits, classes, name = build_splits(p, common.seed)
    mean, std = channel_stats(splits["train"][0])
    targets = {"train": stage.out("train.npz"), "val": stage.out("val.npz"), "test": stage.out("test.npz")}
    with stage.outputs() as out:
        for split, (x, y) in splits.items():
            out.npz(targets[split], images=x, labels=y)
        out.json(stage.out("summary.json"), {
            "source": name, "classes": classes, "channels": int(splits["train"][0].shape[1]), "image_px": p.image_px,
            "mean": mean, "std": std,
            "counts": {split: np.bincount(y, minlength=len(classes)).tolist() for split, (_, y) in splits.items()},
        })
    log.info("%s: %s images at %dx%d, %d classes", name, " / ".join(f"{len(y)} {s}" for s, (_, y) in splits.items()),
             p.image_px, p.image_px, len(classes))


if __name__ == "__main__":
    run_stage(main)
