"""The data stage's checks: ImageFolder layout, unreadable images, zips; the transforms."""
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from stages.core.errors import DataError
from stages.transfer.data import extract_zip
from stages.transfer.images import make_transforms, pick_digits, scan_folder, take_per_class
from stages.transfer.params import TransformParams


def png(path, value=128, side=12):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(path)


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
def test_zip_layout_found_at_top_or_under_one_folder(tree, tmp_path, prefix):
    archive = tmp_path / "set.zip"
    archive.write_bytes(zipped(tree, prefix))
    out = tmp_path / "x"
    out.mkdir()
    root = extract_zip(archive, out, "set.zip")
    assert scan_folder(root).classes == ("ants", "bees")


def test_bad_zips_are_refused(tree, tmp_path):
    archive = tmp_path / "flat.zip"
    archive.write_bytes(zipped(tree / "train", "images/"))  # ants/ and bees/ with no train/val
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match=r"flat.zip: no train/ and val/ folders .* top level holds: images"):
        extract_zip(archive, tmp_path / "a", "flat.zip")
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
