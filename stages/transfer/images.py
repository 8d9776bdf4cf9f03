"""Images for the transfer pipeline: ImageFolder layout checks, decoding, the course's transforms,
and scikit-learn's digits (read by :mod:`stages.core.digits`) rendered as images.

A library module shared by the data stage (which checks and copies the images) and the training,
evaluation and explanation stages (which decode them once and transform them per epoch).

Layout (torchvision's ImageFolder, one folder per split): ``<root>/train/<class>/<image>`` and
``<root>/val/<class>/<image>``, the same classes in both splits. Names starting with a dot
(``.DS_Store``) are skipped; every other file must be a readable image.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.imagefiles import check_image, read_rgb

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
DIGIT_PX = 32  # embedded digits are rendered at 32x32 (their 8x8 scans hold no more detail); transforms resize


@dataclass(frozen=True)
class Folder:
    """A checked ImageFolder tree: its classes and, per split, the (file, class index) pairs in sorted order.

    ``name`` and ``member_prefix`` say how its files are named in messages (:meth:`show`): a zip's
    files by the URL, the cached archive and their member name, never by the temporary folder they
    were extracted into.
    """

    root: Path
    classes: tuple[str, ...]
    files: dict[str, list[tuple[Path, int]]]
    name: str | None = None
    member_prefix: str = ""

    def show(self, path: str | Path = "") -> str:
        """How a file or folder under ``root`` (or given relative to it) is named in messages."""
        path = Path(path)
        rel = (path.relative_to(self.root) if path.is_relative_to(self.root) else path).as_posix()
        rel = "" if rel == "." else rel
        if self.name is None:
            return str(self.root / rel) if rel else str(self.root)
        return f"{self.name}: {self.member_prefix}{rel}" if rel or self.member_prefix else self.name


def _visible(entries) -> list[Path]:
    return sorted(e for e in entries if not e.name.startswith("."))


def scan_folder(root: str | Path, name: str | None = None, member_prefix: str = "") -> Folder:
    """Check an ImageFolder tree and list its images (every image decoded once, before any training).

    Args:
        root: the folder holding ``train/`` and ``val/``.
        name: how to name ``root`` in messages (e.g. the URL and the cached zip it came from);
            default ``root`` itself.
        member_prefix: with ``name``, the folder inside the zip that ``root`` is (``hymenoptera_data/``).

    Raises:
        DataError: no ``train/``/``val/``, a split with no class subfolders, a file outside a class
            folder, classes that differ between the splits, fewer than two classes (nothing to tell
            apart: a classifier would score 1.0 without learning), a class folder with no images, a
            file that is not a readable image or one too large to decode. Each message names the
            folder or file.
    """
    folder = Folder(Path(root), (), {}, name, member_prefix)
    root, show = folder.root, folder.show
    if not root.is_dir():
        raise DataError(f"{show()}: no such folder (transfer.data.path)")
    missing = [s for s in SPLITS if not (root / s).is_dir()]
    if missing:
        found = ", ".join(e.name for e in _visible(root.iterdir())) or "nothing"
        raise DataError(f"{show()}: no {' or '.join(m + '/' for m in missing)} folder (ImageFolder layout expected: "
                        f"train/<class>/<image>, val/<class>/<image>; found: {found})")
    classes: dict[str, list[str]] = {}
    for split in SPLITS:
        entries = _visible((root / split).iterdir())
        stray = [e for e in entries if not e.is_dir()]
        if stray:
            raise DataError(f"{show(stray[0])}: a file outside a class folder (expected {split}/<class>/<image>)")
        if not entries:
            raise DataError(f"{show(split)}: no class subfolders (expected {split}/<class>/<image>)")
        classes[split] = [e.name for e in entries]
    if classes["train"] != classes["val"]:
        raise DataError(f"{show()}: train/ and val/ hold different classes: {classes['train']} vs {classes['val']}")
    if len(classes["train"]) < 2:
        raise DataError(f"{show('train')}: {len(classes['train'])} class folder ({', '.join(classes['train'])}); "
                        "a classifier needs at least two classes (one sub-folder per class in train/ and val/)")
    files: dict[str, list[tuple[Path, int]]] = {}
    for split in SPLITS:
        files[split] = []
        for index, cls in enumerate(classes[split]):
            images = _visible(p for p in (root / split / cls).rglob("*") if p.is_file())
            if not images:
                raise DataError(f"{show(f'{split}/{cls}')}: class folder holds no images")
            for path in images:
                check_image(path, show(path))
                files[split].append((path, index))
    return Folder(root, tuple(classes["train"]), files, name, member_prefix)


def take_per_class(files: list[tuple[Path, int]], n: int | None, what: str, show=str) -> list[tuple[Path, int]]:
    """The first ``n`` files of each class (sorted order); all with ``n`` None.

    Args:
        show: how a class folder is named in messages (:meth:`Folder.show`).

    Raises:
        DataError: a class has fewer than ``n`` files.
    """
    if n is None:
        return list(files)
    out = []
    for cls in sorted({c for _, c in files}):
        mine = [f for f in files if f[1] == cls]
        if len(mine) < n:
            raise DataError(f"{show(mine[0][0].parent)}: {len(mine)} images, {what} asks for {n}")
        out.extend(mine[:n])
    return out


# ---- decoding and transforms ----------------------------------------------------------------------

def load_split(root: Path, split: str) -> tuple[list, list[int], list[str], tuple[str, ...]]:
    """Decode one split of a checked folder (written by `transfer-data`).

    Returns:
        (RGB images, class indices, file names relative to ``root``, class names)
    """
    folder = scan_folder(root)
    pairs = folder.files[split]
    return ([read_rgb(p) for p, _ in pairs], [c for _, c in pairs],
            [p.relative_to(root).as_posix() for p, _ in pairs], folder.classes)


def make_transforms(p) -> tuple:
    """The course's ImageTransform from ``transfer.transform`` params.

    Returns:
        (train transform, val transform): train = RandomResizedCrop(image_px, scale) → [RandomHorizontalFlip]
        → ToTensor → Normalize; val = Resize(resize_px) → CenterCrop(image_px) → ToTensor → Normalize.
    """
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(list(p.mean), list(p.std))]
    train = [T.RandomResizedCrop(p.image_px, scale=tuple(p.crop_scale))] + ([T.RandomHorizontalFlip()] if p.hflip else [])
    return T.Compose(train + norm), T.Compose([T.Resize(p.resize_px), T.CenterCrop(p.image_px)] + norm)


class ImageSet:
    """A map-style dataset of decoded images, transformed on every access (random crops differ per epoch).

    The transform draws from torch's global RNG in the loading process (``num_workers=0``), which the
    trainer seeds and saves in its resume checkpoints.
    """

    def __init__(self, images: list, labels: list[int], transform) -> None:
        assert len(images) == len(labels), f"{len(images)} images but {len(labels)} labels"
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        import torch

        return self.transform(self.images[i]), torch.tensor(self.labels[i])


def stack(images: list, transform):
    """Apply a deterministic transform to every image: (N, 3, H, W) float32."""
    import torch

    return torch.stack([transform(im) for im in images])


# ---- scikit-learn's digits as images (the scans from stages.core.digits.load_embedded_uint8) -------

def digit_image(scan: np.ndarray):
    """One 8x8 scan as a DIGIT_PX x DIGIT_PX grayscale PIL image (bilinear), white on black as scanned."""
    from PIL import Image

    return Image.fromarray(scan, mode="L").resize((DIGIT_PX, DIGIT_PX), Image.Resampling.BILINEAR)


def pick_digits(labels: np.ndarray, digits: list[int], counts: tuple[int, ...], seed: int, what: str) -> list[np.ndarray]:
    """Disjoint random picks per digit: for each count, that many indices of every digit.

    Args:
        labels: (N,) digit labels.
        digits: the classes, in class-index order.
        counts: e.g. (train_per_class, val_per_class).
        seed: the permutation's seed (``common.seed``): the labelled subset changes with it.
        what: the params key, for messages.

    Returns:
        one (len(digits) * count,) index array per count, class by class.

    Raises:
        DataError: a digit has fewer images than the counts add up to.
    """
    rng = np.random.default_rng(seed)
    picks: list[list[np.ndarray]] = [[] for _ in counts]
    for d in digits:
        idx = rng.permutation(np.flatnonzero(labels == d))
        if len(idx) < sum(counts):
            raise DataError(f"sklearn.datasets.load_digits: digit {d} has {len(idx)} images, {what} asks for {sum(counts)}")
        start = 0
        for j, n in enumerate(counts):
            picks[j].append(idx[start:start + n])
            start += n
    return [np.concatenate(p) for p in picks]
