"""The url and path sources on 127.0.0.1: a tiny aclImdb tar.gz checked by its md5, a tiny .vec
checked by its sha256; bad input stops the stage with nothing left behind."""
from __future__ import annotations

import copy
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from stages.core.errors import DataError, DownloadError
from stages.core.params import parse_params, read_params_file
from stages.core.stage import Declared
from stages.nlp import download, params, vectors
from stages.nlp.params import VectorsParams
from stages.nlp.token_ids import Vocab
from tests.conftest import ROOT, serve_directory

REAL = parse_params((ROOT / "params.yaml").read_text())
REVIEWS = {
    "train/pos/0_9.txt": "A wonderful film.<br /><br />Loved it!", "train/pos/1_8.txt": "Great acting, great story.",
    "train/neg/2_1.txt": "Awful. Boring plot.", "train/neg/3_2.txt": "The worst film, truly bad.",
    "test/pos/4_10.txt": "Great film.", "test/neg/5_1.txt": "Bad film.",
}


def make_tar(folder: Path, reviews: dict[str, str], name: str = "aclImdb_v1.tar.gz") -> tuple[Path, str]:
    """A tar.gz in aclImdb layout; returns its path and md5."""
    path = folder / name
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in sorted(reviews.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))


def download_params(**kw) -> params.DownloadParams:
    return params.DownloadParams(**{**REAL["nlp"]["download"], **kw})


def test_url_source_reads_the_imdb_layout_checked_by_md5(tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    _, md5 = make_tar(served, REVIEWS)
    with serve_directory(served) as base:
        train, test, unlabelled = download.labelled_splits(download_params(source="url", url=f"{base}/aclImdb_v1.tar.gz", md5=md5))
        assert train == [("Awful. Boring plot.", 0), ("The worst film, truly bad.", 0),
                         ("A wonderful film.<br /><br />Loved it!", 1), ("Great acting, great story.", 1)]
        assert test == [("Bad film.", 0), ("Great film.", 1)] and unlabelled == []
        with pytest.raises(DownloadError, match="checksum mismatch"):
            download.labelled_splits(download_params(source="url", url=f"{base}/aclImdb_v1.tar.gz", md5="0" * 32))


def test_an_archive_without_neg_is_refused(tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    _, md5 = make_tar(served, {k: v for k, v in REVIEWS.items() if not k.startswith("test/neg")}, "nones.tar.gz")
    with serve_directory(served) as base, pytest.raises(DataError, match=r"nones\.tar\.gz: test/ has no neg/ folder"):
        download.labelled_splits(download_params(source="url", url=f"{base}/nones.tar.gz", md5=md5))


def write_vec(path: Path, rows: dict[str, list[float]], dim: int, header: bool = True) -> str:
    lines = ([f"{len(rows)} {dim}"] if header else []) + [f"{w} {' '.join(map(str, v))}" for w, v in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vectors_params(**kw) -> VectorsParams:
    return VectorsParams(**{**REAL["nlp"]["vectors"], **kw})


def test_vec_by_url_with_sha256_fills_the_vocabulary_and_a_wrong_dimension_is_refused(tmp_path, cache):
    served = tmp_path / "served"
    served.mkdir()
    sha = write_vec(served / "tiny.vec", {"film": [1.0, 2.0, 3.0, 4.0], "great": [0.5, 0.5, 0.5, 0.5], "other": [9, 9, 9, 9]}, 4)
    vocab = Vocab().fit([["film", "great", "bad"]])
    with serve_directory(served) as base:
        p = vectors_params(source="url", url=f"{base}/tiny.vec", sha256=sha, dim=4)
        table = vectors.read_vec(vectors.pretrained_path(p), set(vocab.itos_), 4)
        matrix, found = vectors.embedding_matrix(vocab, table.get, 4)
        assert matrix[vocab.stoi["film"]].tolist() == [1, 2, 3, 4] and found.sum() == 2
        assert not found[vocab.stoi["bad"]] and not matrix[vocab.stoi["bad"]].any()  # no vector: zeros
        with pytest.raises(DataError, match=r"tiny\.vec:1: the vectors have dimension 4 \(header\), the model's is nlp\.vectors\.dim = 6"):
            vectors.read_vec(vectors.pretrained_path(p), set(vocab.itos_), 6)
        with pytest.raises(DataError, match=r"nlp\.vectors\.sha256 is not set"):
            vectors.pretrained_path(vectors_params(source="url", url=f"{base}/tiny.vec", sha256=None, dim=4))
    bad = tmp_path / "bad.vec"
    write_vec(bad, {"film": [1.0, 2.0, 3.0, 4.0], "great": [1.0, 2.0]}, 4, header=False)
    with pytest.raises(DataError, match=r"bad\.vec:2: 2 values, expected nlp\.vectors\.dim = 4"):
        vectors.read_vec(bad, {"film", "great"}, 4)


def declared(tmp_path: Path) -> Declared:
    return Declared(name="nlp-download", module="stages.nlp.download", deps=(), code=(),
                    outs=("data/nlp/corpus", "data/nlp/profile.json"), params=("nlp.download",))


def run_download(tmp_path: Path, monkeypatch, **override) -> None:
    tree = copy.deepcopy({"nlp": REAL["nlp"]})
    tree["nlp"]["download"].update(override)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tree, allow_unicode=True))
    monkeypatch.chdir(tmp_path)
    read_params_file.cache_clear()
    try:
        download.main(declared(tmp_path))
    finally:
        read_params_file.cache_clear()


def test_bad_tsv_row_stops_the_stage_with_nothing_left_behind(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.tsv", tmp_path / "bad.tsv"
    good.write_text("".join(f"review {i} text\t{i % 2}\n" for i in range(8)))
    bad.write_text("fine film\t1\nno label at all\n")
    with pytest.raises(DataError, match=r"bad\.tsv:2: missing label"):
        run_download(tmp_path, monkeypatch, source="path", path=[str(good), str(bad)])
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*"))
    run_download(tmp_path, monkeypatch, source="path", path=[str(good)])
    profile = json.loads((tmp_path / "data/nlp/profile.json").read_text())
    assert profile["train"]["n"] + profile["test"]["n"] == 8 and profile["test"]["n"] == 2
    assert (tmp_path / "data/nlp/corpus/japanese.txt").read_text(encoding="utf-8").startswith("親譲りの無鉄砲で")  # Sōseki
    assert sorted(p.name for p in (tmp_path / "data/nlp").iterdir()) == ["corpus", "profile.json"]  # no temporaries
