"""Stage `transfer-data`: the target task's images, checked, in ImageFolder layout.

Sources (``transfer.data.source``):
- ``embedded``: scikit-learn's digits ``digits`` (5-9 by default): ``train_per_class`` labelled images
  per digit (the few labels that make transfer worth it) and ``val_per_class`` for validation, drawn
  at random with ``common.seed``, rendered as 32x32 PNGs;
- ``path``: one folder holding ``train/<class>/<image>`` and ``val/<class>/<image>``;
- ``url``: a zip of that layout (the course's hymenoptera_data.zip), checked against its sha256,
  extracted, its layout checked (at the top level or under one top folder).

Every image is decoded before anything is written: a missing split, a split without class folders,
a class folder without images, a file that is not a readable image all stop the stage with the
file's name, and nothing is left behind. For ``path``/``url`` the first ``train_per_class`` /
``val_per_class`` images of each class (by name) are kept, all of them when null.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.transfer import params
from stages.transfer.images import SPLITS, Folder, digit_image, embedded_digits, pick_digits, scan_folder, take_per_class
from stages.transfer.params import DataParams

log = logging.getLogger(__name__)


def extract_zip(archive: Path, dest: Path, name: str) -> Path:
    """Extract ``archive`` into ``dest`` and return the folder that holds ``train/`` and ``val/``.

    Raises:
        DataError: not a zip, a member that would land outside ``dest``, or no ImageFolder root
            (train/ and val/ at the top level or under exactly one top folder).
    """
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.infolist():
                target = (dest / member.filename).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise DataError(f"{name}: member {member.filename!r} would be extracted outside its folder")
            z.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{name}: not a zip archive ({exc})") from None
    candidates = [dest] + sorted(d for d in dest.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX")))
    roots = [d for d in candidates if all((d / s).is_dir() for s in SPLITS)]
    if len(roots) != 1:
        top = ", ".join(sorted(e.name for e in dest.iterdir())) or "nothing"
        raise DataError(f"{name}: no train/ and val/ folders at its top level or under one top folder "
                        f"(ImageFolder layout expected; top level holds: {top})")
    return roots[0]


def copy_folder(folder: Folder, dest: Path, p: DataParams) -> dict:
    """Copy the kept images byte for byte into ``dest/<split>/<class>/``; returns counts per split and class."""
    counts = {}
    for split, n in (("train", p.train_per_class), ("val", p.val_per_class)):
        kept = take_per_class(folder.files[split], n, f"transfer.data.{split}_per_class")
        for path, cls in kept:
            target = dest / split / folder.classes[cls] / path.relative_to(folder.root / split / folder.classes[cls])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        counts[split] = {c: sum(1 for _, k in kept if k == i) for i, c in enumerate(folder.classes)}
    return counts


def write_digits(dest: Path, p: DataParams, seed: int) -> dict:
    """Render the picked digits as PNGs under ``dest/<split>/<digit>/``; returns counts per split and class."""
    scans, labels = embedded_digits()
    picks = pick_digits(labels, p.digits, (p.train_per_class, p.val_per_class), seed, "transfer.data (train + val per class)")
    counts = {}
    for split, idx in zip(SPLITS, picks):
        for i in idx:
            folder = dest / split / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            digit_image(scans[i]).save(folder / f"{i:04d}.png", format="PNG", optimize=False)
        counts[split] = {str(d): int(np.sum(labels[idx] == d)) for d in p.digits}
    return counts


def main(stage: Declared) -> None:
    p, seed = params.load().data, load_common().seed
    target = stage.out("target")
    with tempfile.TemporaryDirectory(prefix="transfer-data-") as tmp:
        folder, name = None, "sklearn.datasets.load_digits"
        if p.source == "path":
            name = str(Path(p.path[0]).expanduser())
            folder = scan_folder(Path(name))
        elif p.source == "url":
            name = p.url
            archive = fetch_url(p.url, p.checksum, deadline=p.deadline_seconds)
            folder = scan_folder(extract_zip(archive, Path(tmp), str(archive)), name=str(archive))
        if folder is not None:  # the counts are checked before anything is written
            for split, n in (("train", p.train_per_class), ("val", p.val_per_class)):
                take_per_class(folder.files[split], n, f"transfer.data.{split}_per_class")
        with stage.outputs() as out:
            dest = out.dir(target)
            counts = write_digits(dest, p, seed) if folder is None else copy_folder(folder, dest, p)
            classes = list(counts["train"])
            out.json(stage.out("summary.json"), {"source": p.source, "from": name, "classes": classes, "counts": counts,
                                                 "train": sum(counts["train"].values()), "val": sum(counts["val"].values())})
    log.info("%d classes (%s): %d training and %d validation images from %s", len(classes), ", ".join(classes),
             sum(counts["train"].values()), sum(counts["val"].values()), name)


if __name__ == "__main__":
    run_stage(main)
