"""The data stage's checks: ImageFolder layout, unreadable and oversized images, one class, zips
(members checked before extraction, messages naming the URL); the transforms."""
import hashlib
import io
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from stages.core.errors import DataError
from stages.transfer.data import extract_zip, plan_zip, read_source
from stages.transfer.images import make_transforms, pick_digits, scan_folder, take_per_class
from stages.transfer.params import DataParams, TransformParams
from tests.conftest import serve_directory


def png(path, value=128, side=12):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(path)


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (what Pillow reads before any pixel): a
    decompression bomb's first bytes, without the gigabytes a real one would take to write."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "set"
    for split in ("train", "val"):
        for cls in ("ants", "bees"):
            for i in range(2):
                png(root / split / cls / f"{i}.png", 40 * i)
    return root


def test_a_good_tree_is_listed_in_order(tree):
    folder = scan_folder(tree)
    assert folder.classes == ("ants", "bees")
    assert [(p.relative_to(tree).as_posix(), c) for p, c in folder.files["val"]] == [
        ("val/ants/0.png", 0), ("val/ants/1.png", 0), ("val/bees/0.png", 1), ("val/bees/1.png", 1)]
    assert len(take_per_class(folder.files["train"], 1, "k")) == 2
    with pytest.raises(DataError, match=r"ants: 2 images, k asks for 3"):
        take_per_class(folder.files["train"], 3, "k")


@pytest.mark.parametrize("damage, message", [
    (lambda r: __import__("shutil").rmtree(r / "val"), r"set: no val/ folder \(ImageFolder layout expected"),
    (lambda r: [__import__("shutil").rmtree(r / "train" / c) for c in ("ants", "bees")], r"set/train: no class subfolders"),
    (lambda r: [p.unlink() for p in (r / "val" / "bees").iterdir()], r"set/val/bees: class folder holds no images"),
    (lambda r: (r / "train" / "ants" / "notes.txt").write_text("not an image"), r"set/train/ants/notes.txt: not a readable image"),
    (lambda r: (r / "train" / "bees" / "1.png").write_bytes((r / "train" / "bees" / "1.png").read_bytes()[:60]),
     r"set/train/bees/1.png: not a readable image"),
    (lambda r: (r / "train" / "stray.png").write_bytes(b"x"), r"set/train/stray.png: a file outside a class folder"),
    (lambda r: (r / "val" / "bees").rename(r / "val" / "wasps"), r"set: train/ and val/ hold different classes"),
])
def test_bad_trees_are_refused_naming_the_file(tree, damage, message):
    damage(tree)
    with pytest.raises(DataError, match=message):
        scan_folder(tree)


@pytest.mark.parametrize("side, reason", [(20000, "image has 400,000,000 pixels"), (10000, r"image is 10000x10000 \(100,000,000 pixels\)")])
def test_an_oversized_image_is_one_error_naming_the_file_and_the_limit(tree, side, reason):
    (tree / "train" / "bees" / "huge.png").write_bytes(huge_png(side, side))
    with pytest.raises(DataError, match=rf"set/train/bees/huge.png: {reason}, above the limit of 89,478,485 pixels .*; downscale or remove it$"):
        scan_folder(tree)


def test_one_class_is_refused_naming_the_folder(tree):
    for split in ("train", "val"):
        __import__("shutil").rmtree(tree / split / "bees")
    with pytest.raises(DataError, match=r"set/train: 1 class folder \(ants\); a classifier needs at least two classes"):
        scan_folder(tree)


def test_hidden_files_are_skipped(tree):
    (tree / "train" / "ants" / ".DS_Store").write_bytes(b"\0\1")
    assert len(scan_folder(tree).files["train"]) == 4


def zipped(root, prefix=""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                z.write(f, prefix + f.relative_to(root).as_posix())
    return buf.getvalue()


@pytest.mark.parametrize("prefix", ["", "hymenoptera_data/"])
def test_zip_layout_found_at_top_or_under_one_folder_and_only_the_splits_extracted(tree, tmp_path, prefix):
    archive = tmp_path / "set.zip"
    (tree / "README.txt").write_text("not extracted")
    archive.write_bytes(zipped(tree, prefix))
    out = tmp_path / "x"
    out.mkdir()
    root, found = extract_zip(archive, out, "set.zip")
    assert found == prefix and scan_folder(root).classes == ("ants", "bees")
    assert not (root / "README.txt").exists()


def test_bad_zips_are_refused(tree, tmp_path):
    archive = tmp_path / "flat.zip"
    archive.write_bytes(zipped(tree / "train", "images/"))  # ants/ and bees/ with no train/val
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match=r"flat.zip: no train/ and val/ folders .* top level holds: images"):
        extract_zip(archive, tmp_path / "a", "flat.zip")
    assert not list((tmp_path / "a").iterdir()), "nothing is extracted before the layout is checked"
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=r"junk.zip: not a zip archive"):
        extract_zip(tmp_path / "junk.zip", tmp_path / "b", "junk.zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../evil.png", b"x")
    (tmp_path / "slip.zip").write_bytes(buf.getvalue())
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match=r"slip.zip: member '../evil.png' would be extracted outside"):
        extract_zip(tmp_path / "slip.zip", tmp_path / "c", "slip.zip")
    assert not (tmp_path / "evil.png").exists()


def info(name: str, file_size: int = 10, compress_size: int = 10, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    z = zipfile.ZipInfo(name)
    z.file_size, z.compress_size, z.external_attr = file_size, compress_size, mode << 16
    return z


GOOD = ["d/train/a/0.png", "d/train/b/0.png", "d/val/a/0.png", "d/val/b/0.png"]


@pytest.mark.parametrize("extra, message", [
    (info("d/train/a/link.png", mode=stat.S_IFLNK | 0o777), r"member 'd/train/a/link.png' is a symbolic link"),
    (info("/etc/passwd"), r"member '/etc/passwd' would be extracted outside"),
    (info("d/train/a/bomb.png", file_size=1 << 30, compress_size=1 << 20),
     r"member 'd/train/a/bomb.png' inflates 1,048,576 bytes to 1,073,741,824 \(more than 200-fold"),
    (info("d/train/a/big.png", file_size=10 << 30, compress_size=10 << 30),
     r"its train/ and val/ folders hold 10,737,418,280 bytes uncompressed, more than the 8,522,825,728 bytes free"),
])
def test_a_zips_members_are_checked_before_extraction(extra, message):
    members = [info(n) for n in GOOD] + [extra]
    with pytest.raises(DataError, match=r"^u \(cached at c\): " + message):
        plan_zip(members, "u (cached at c)", free_bytes=1 << 33)
    prefix, chosen = plan_zip([info(n) for n in GOOD] + [info("__MACOSX/d/._x"), info("d/notes.txt")], "u", free_bytes=1 << 33)
    assert prefix == "d/" and [m.filename for m in chosen] == GOOD


def test_url_zip_errors_name_the_url_and_the_cached_zip_never_the_temporary_folder(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    (tree / "train" / "bees" / "1.png").write_bytes(b"broken")
    data = zipped(tree, "hymenoptera_data/")
    site = tmp_path / "site"
    site.mkdir()
    (site / "h.zip").write_bytes(data)
    with serve_directory(site) as url:
        p = DataParams(source="url", url=f"{url}/h.zip", sha256=hashlib.sha256(data).hexdigest(), digits=[5, 6],
                       train_per_class=None, val_per_class=None)
        work = tmp_path / "work"
        work.mkdir()
        with pytest.raises(DataError) as err:
            read_source(p, work)
    message = str(err.value)
    cached = next((tmp_path / "cache").rglob("h.zip"))
    assert message.startswith(f"{url}/h.zip (cached at {cached}): hymenoptera_data/train/bees/1.png: not a readable image")
    assert str(work) not in message


def test_transforms_are_the_courses():
    p = TransformParams(image_px=8, resize_px=10, crop_scale=(0.5, 1.0), hflip=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    train, val = make_transforms(p)
    assert [type(t).__name__ for t in train.transforms] == ["RandomResizedCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert [type(t).__name__ for t in val.transforms] == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    x = val(Image.fromarray(np.full((20, 30, 3), 191, np.uint8)))
    assert x.shape == (3, 8, 8) and torch.allclose(x, torch.full_like(x, (191 / 255 - 0.5) / 0.25))
    with pytest.raises(ValueError, match="resize_px"):
        TransformParams(image_px=8, resize_px=4, crop_scale=(0.5, 1.0), hflip=True, mean=(0, 0, 0), std=(1, 1, 1))


def test_digit_picks_are_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), 10)
    a, b = pick_digits(labels, [0, 2], (3, 4), seed=1, what="x")
    assert len(a) == 6 and len(b) == 8 and not set(a) & set(b)
    assert set(labels[a]) == {0, 2}
    assert np.array_equal(a, pick_digits(labels, [0, 2], (3, 4), seed=1, what="x")[0])
    assert not np.array_equal(a, pick_digits(labels, [0, 2], (3, 4), seed=2, what="x")[0])
    with pytest.raises(DataError, match="digit 0 has 10 images, x asks for 11"):
        pick_digits(labels, [0], (5, 6), seed=1, what="x")
