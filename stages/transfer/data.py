"""Stage `transfer-data`: the target task's images, checked, in ImageFolder layout.

Sources (``transfer.data.source``):
- ``embedded``: scikit-learn's digits ``digits`` (5-9 by default): ``train_per_class`` labelled images
  per digit (the few labels that make transfer worth it) and ``val_per_class`` for validation, drawn
  at random with ``common.seed``, rendered as 32x32 PNGs;
- ``path``: one folder holding ``train/<class>/<image>`` and ``val/<class>/<image>``;
- ``url``: a zip of that layout (the course's hymenoptera_data.zip), checked against its sha256; its
  member list checked (names, links, sizes, layout at the top level or under one top folder) before
  its train/ and val/ folders alone are extracted. Messages name the URL, the cached zip and the member.

Every image is decoded before anything is written: a missing split, a split without class folders,
a class folder without images, a file that is not a readable image all stop the stage with the
file's name, and nothing is left behind. For ``path``/``url`` the first ``train_per_class`` /
``val_per_class`` images of each class (by name) are kept, all of them when null.
"""
from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from stages.core.digits import load_embedded_uint8
from stages.core.errors import DataError
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.transfer import params
from stages.transfer.images import SPLITS, Folder, digit_image, pick_digits, scan_folder, take_per_class
from stages.transfer.params import DataParams

log = logging.getLogger(__name__)


ZIP_BOMB_RATIO = 200  # images barely compress (JPEG, PNG); a member that inflates 200-fold is not an image
ZIP_BOMB_MIN_BYTES = 1 << 20  # ... unless it is small (a blank PNG, a text file): ratios count from 1 MiB up
DISK_MARGIN_BYTES = 64 << 20  # left free on the temporary folder's disk after extraction


def plan_zip(members: list[zipfile.ZipInfo], name: str, free_bytes: int) -> tuple[str, list[zipfile.ZipInfo]]:
    """Check a zip's directory before a byte is extracted and pick what to extract.

    Pure: reads only the member list (names, types, flags, sizes) that ``zipfile`` parsed.

    Args:
        members: the archive's ``infolist()``.
        name: how to name the archive in messages (its URL and cached file).
        free_bytes: free space where it will be extracted.

    Returns:
        (the member prefix of the ImageFolder root: ``""`` or ``"<top folder>/"``, the members
        under its ``train/`` and ``val/`` folders: the only ones extracted).

    Raises:
        DataError: a member named outside the folder (absolute, ``..``), a symbolic link, an
            encrypted member, one that inflates more than ZIP_BOMB_RATIO-fold, no ImageFolder root
            (train/ and val/ at the top level or under exactly one top folder), or more bytes than
            the disk holds.
    """
    for m in members:
        parts = m.filename.replace("\\", "/").split("/")
        if m.filename.startswith(("/", "\\")) or ".." in parts or (parts[0][1:2] == ":"):
            raise DataError(f"{name}: member {m.filename!r} would be extracted outside its folder")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise DataError(f"{name}: member {m.filename!r} is a symbolic link (an ImageFolder holds image files only)")
        if m.flag_bits & 0x1:
            raise DataError(f"{name}: member {m.filename!r} is encrypted")
        if m.file_size > ZIP_BOMB_MIN_BYTES and m.file_size > ZIP_BOMB_RATIO * max(m.compress_size, 1):
            raise DataError(f"{name}: member {m.filename!r} inflates {m.compress_size:,} bytes to {m.file_size:,} "
                            f"(more than {ZIP_BOMB_RATIO}-fold: not an image; a zip bomb?)")
    names = [m.filename for m in members if not m.filename.startswith(("__MACOSX/", "."))]
    tops = sorted({n.split("/")[0] + "/" for n in names if "/" in n})

    def holds_splits(prefix: str) -> bool:
        return all(any(n.startswith(f"{prefix}{s}/") for n in names) for s in SPLITS)

    roots = [p for p in ["", *tops] if holds_splits(p)]
    if len(roots) != 1:
        top = ", ".join(sorted({n.split("/")[0] for n in names})) or "nothing"
        raise DataError(f"{name}: no train/ and val/ folders at its top level or under one top folder "
                        f"(ImageFolder layout expected; top level holds: {top})")
    prefix = roots[0]
    chosen = [m for m in members if m.filename.startswith(tuple(f"{prefix}{s}/" for s in SPLITS))]
    needed = sum(m.file_size for m in chosen)
    if needed + DISK_MARGIN_BYTES > free_bytes:
        raise DataError(f"{name}: its train/ and val/ folders hold {needed:,} bytes uncompressed, more than the "
                        f"{max(free_bytes - DISK_MARGIN_BYTES, 0):,} bytes free for extracting them (TMPDIR)")
    return prefix, chosen


def extract_zip(archive: Path, dest: Path, name: str) -> tuple[Path, str]:
    """Check ``archive``'s members (:func:`plan_zip`), then extract its ImageFolder root into ``dest``.

    Only the root's ``train/`` and ``val/`` members are extracted; nothing is, when a check fails.

    Args:
        archive: the zip file.
        dest: an empty folder to extract into.
        name: how to name the archive in messages (its URL and cached file, never ``dest``).

    Returns:
        (the folder that holds ``train/`` and ``val/``, its member prefix inside the zip).

    Raises:
        DataError: not a zip, a corrupt member, or see :func:`plan_zip`.
    """
    try:
        with zipfile.ZipFile(archive) as z:
            prefix, chosen = plan_zip(z.infolist(), name, shutil.disk_usage(dest).free)
            z.extractall(dest, members=chosen)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{name}: not a zip archive or a corrupt one ({type(exc).__name__}: {exc})") from None
    return dest / prefix, prefix


def copy_folder(folder: Folder, dest: Path, data_params: DataParams) -> dict:
    """Copy the kept images byte for byte into ``dest/<split>/<class>/``; returns counts per split and class."""
    counts = {}
    for split, n in (("train", data_params.train_per_class), ("val", data_params.val_per_class)):
        kept = take_per_class(folder.files[split], n, f"transfer.data.{split}_per_class", folder.show)
        for path, cls in kept:
            target = dest / split / folder.classes[cls] / path.relative_to(folder.root / split / folder.classes[cls])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        counts[split] = {c: sum(1 for _, k in kept if k == i) for i, c in enumerate(folder.classes)}
    return counts


def write_digits(dest: Path, data_params: DataParams, seed: int) -> dict:
    """Render the picked digits as PNGs under ``dest/<split>/<digit>/``; returns counts per split and class."""
    scans, labels = load_embedded_uint8()
    picks = pick_digits(labels, data_params.digits, (data_params.train_per_class, data_params.val_per_class), seed,
                        "transfer.data (train + val per class)")
    counts = {}
    for split, idx in zip(SPLITS, picks):
        for i in idx:
            folder = dest / split / str(labels[i])
            folder.mkdir(parents=True, exist_ok=True)
            digit_image(scans[i]).save(folder / f"{i:04d}.png", format="PNG", optimize=False)
        counts[split] = {str(d): int(np.sum(labels[idx] == d)) for d in data_params.digits}
    return counts


def read_source(data_params: DataParams, tmp: Path) -> tuple[Folder | None, str]:
    """The checked ImageFolder of a ``path`` or ``url`` source (None for ``embedded``) and the source's name.

    A ``url`` zip is extracted into ``tmp``; messages name the URL and the cached zip, never ``tmp``.
    Every image is decoded and the per-class counts are checked here, before anything is written.

    Raises:
        DataError: see :func:`extract_zip`, :func:`scan_folder` and :func:`take_per_class`.
        DownloadError: the download failed or its checksum differs.
    """
    folder, name = None, "sklearn.datasets.load_digits"
    if data_params.source == "path":
        name = str(Path(data_params.path[0]).expanduser())
        folder = scan_folder(Path(name))
    elif data_params.source == "url":
        name = data_params.url
        archive = fetch_url(data_params.url, data_params.checksum, deadline=data_params.deadline_seconds)
        shown = f"{data_params.url} (cached at {archive})"  # the temporary folder is gone when the user reads the message
        root, prefix = extract_zip(archive, tmp, shown)
        folder = scan_folder(root, name=shown, member_prefix=prefix)
    if folder is not None:
        for split, n in (("train", data_params.train_per_class), ("val", data_params.val_per_class)):
            take_per_class(folder.files[split], n, f"transfer.data.{split}_per_class", folder.show)
    return folder, name


def main(stage: Declared) -> None:
    data_params, seed = params.load().data, load_common().seed
    target = stage.out("target")
    with tempfile.TemporaryDirectory(prefix="transfer-data-") as tmp:
        folder, name = read_source(data_params, Path(tmp))
        with stage.outputs() as out:
            dest = out.dir(target)
            counts = write_digits(dest, data_params, seed) if folder is None else copy_folder(folder, dest, data_params)
            classes = list(counts["train"])
            out.json(stage.out("summary.json"), {"source": data_params.source, "from": name, "classes": classes, "counts": counts,
                                                 "train": sum(counts["train"].values()), "val": sum(counts["val"].values())})
    log.info("%d classes (%s): %d training and %d validation images from %s", len(classes), ", ".join(classes),
             sum(counts["train"].values()), sum(counts["val"].values()), name)


if __name__ == "__main__":
    run_stage(main)
