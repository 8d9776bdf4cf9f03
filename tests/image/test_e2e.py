"""End to end: `dvc repro` of the image stages in a temporary copy of the repository."""
from __future__ import annotations

import json
import shutil

import pytest

STAGES = ("image-inspect", "image-transforms", "image-scramble", "image-ycbcr")
ALL = ("image-decode", *STAGES)


@pytest.mark.e2e
@pytest.mark.slow(85)
def test_repro_embedded_then_own_photos_then_a_bad_file(temp_repo, shared_data, tmp_path):
    repo = temp_repo
    proc = repo.dvc("repro", *STAGES)
    assert sorted(repo.ran_stages(proc)) == sorted(ALL)
    for path in ("artifacts/image/inspect/histograms/china.png", "artifacts/image/transforms/images/flower/resize.png",
                 "artifacts/image/scramble/images/china/scramble.png", "artifacts/image/ycbcr/arrays/china.npz"):
        assert (repo.path / path).is_file(), path
    scramble = json.loads((repo.path / "artifacts/image/scramble/metrics.json").read_text())
    assert all(m["restored_exact"] for m in scramble.values())
    ycbcr = json.loads((repo.path / "artifacts/image/ycbcr/metrics.json").read_text())
    assert all(m["vs_cv2_uint8"]["max_abs_diff"] < 1 for m in ycbcr.values())
    assert repo.ran_stages(repo.dvc("repro", *STAGES)) == []  # nothing changed, nothing runs

    # the user's own photos: a folder and a single file, one of them grayscale
    own = tmp_path / "photos"
    own.mkdir()
    for src in sorted((shared_data / "hymenoptera" / "val" / "ants").glob("*.jpg"))[:2]:
        shutil.copy(src, own / src.name)
    import cv2

    gray = cv2.imread(str(next(own.iterdir())), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    repo.set_param("image.decode.source", "path")
    repo.set_param("image.decode.path", [str(own), str(tmp_path / "gray.png")])
    proc = repo.dvc("repro", *STAGES)
    assert sorted(repo.ran_stages(proc)) == sorted(ALL)
    manifest = json.loads((repo.path / "data/image/decoded/manifest.json").read_text())
    assert len(manifest["images"]) == 3
    assert manifest["images"][2]["conversions"] == ["grayscale copied into R, G, B"]
    assert "grayscale copied" in proc.stderr

    # a truncated JPEG among them: a clear error naming it, and no decoded folder left behind
    cut = own / "zz-cut.jpg"
    data = (own / sorted(f.name for f in own.iterdir())[0]).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    # DVC hashes params, not the files a `path` entry points at: a changed photo folder needs -f
    proc = repo.dvc("repro", "-f", "image-decode", check=False)
    assert proc.returncode != 0
    assert "zz-cut.jpg: truncated" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    leftovers = [p.name for p in (repo.path / "data/image").iterdir()] if (repo.path / "data/image").exists() else []
    assert not [n for n in leftovers if ".tmp" in n], leftovers


@pytest.mark.e2e
def test_a_photo_smaller_than_a_block_is_named(temp_repo, tmp_path):
    """A 1x1 photo: one line naming the user's file and the param, no traceback."""
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "one_pixel.png"), np.full((1, 1, 3), 200, np.uint8))
    temp_repo.set_param("image.decode.source", "path")
    temp_repo.set_param("image.decode.path", [str(tmp_path / "one_pixel.png")])
    proc = temp_repo.dvc("repro", "image-scramble", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith(
        f"{tmp_path / 'one_pixel.png'}: image.scramble.block_size: 16 does not fit this 1x1 photo (1 ≤ block ≤ 1); "
        "lower block_size or leave the photo out"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
