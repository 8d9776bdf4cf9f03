"""Stage `nlp-download`: labelled reviews (train and test), unlabelled text and a Japanese text.

Sources (``nlp.download.source``):

- ``embedded``: gensim's test data ``pang_lee_polarity.cor`` (200 movie-review sentences, 100 positive,
  100 negative; stored as cp1252, decoded here) split into train and test by ``test_fraction``
  (stratified, ``split_seed``), and ``lee_background.cor`` (300 news documents) as unlabelled text for
  the word vectors;
- ``url``: the IMDb archive (``aclImdb_v1.tar.gz``, checked by its published md5), its own train and
  test splits (25,000 reviews each);
- ``path``: one aclImdb folder (its own splits), or TSV files ``text<TAB>label`` pooled and split by
  ``test_fraction``.

The Japanese text (``nlp.download.japanese``): ``embedded`` is the short text in
``stages/nlp/japanese.py``; ``url`` and ``path`` read a UTF-8 text file. Outputs are written all or
nothing: a bad row stops the stage with its file and line, and nothing is left behind.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.japanese import TEXT as JAPANESE_TEXT
from stages.nlp.params import DownloadParams
from stages.nlp.text import decode_line, read_aclimdb_folder, read_aclimdb_tar, read_fasttext_labelled, read_tsv, to_tsv

log = logging.getLogger(__name__)

Rows = list[tuple[str, int]]


def stratified_split(rows: Rows, test_fraction: float, seed: int) -> tuple[Rows, Rows]:
    """Train and test rows: ``round(n_class * test_fraction)`` of each class to test, drawn with ``seed``.

    Both keep the input order (only membership is random), so the split depends on nothing but the
    rows, the fraction and the seed.

    Raises:
        DataError: a class has fewer than two rows (it could not be in both splits).
    """
    rng = np.random.default_rng(seed)
    test_idx: set[int] = set()
    for label in sorted({y for _, y in rows}):
        idx = np.array([i for i, (_, y) in enumerate(rows) if y == label])
        if len(idx) < 2:
            raise DataError(f"label {label}: {len(idx)} review(s); need at least 2 per class to split train and test")
        k = min(max(1, round(len(idx) * test_fraction)), len(idx) - 1)
        test_idx.update(rng.permutation(idx)[:k].tolist())
    return ([r for i, r in enumerate(rows) if i not in test_idx], [r for i, r in enumerate(rows) if i in test_idx])


def limit_per_class(rows: Rows, n: int, seed: int) -> Rows:
    """At most ``n`` rows per class (a seeded draw, input order kept); all of them when ``n`` is 0."""
    if n == 0:
        return rows
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for label in sorted({y for _, y in rows}):
        idx = [i for i, (_, y) in enumerate(rows) if y == label]
        keep.update(rng.permutation(idx)[:n].tolist())
    return [r for i, r in enumerate(rows) if i in keep]


def embedded_reviews() -> tuple[Rows, list[str]]:
    """gensim's labelled sentences and its unlabelled news documents."""
    from gensim.test.utils import datapath

    labelled = Path(datapath("pang_lee_polarity.cor"))
    background = Path(datapath("lee_background.cor"))
    rows = read_fasttext_labelled(labelled.read_bytes(), str(labelled), encoding="cp1252")  # as gensim ships it
    unlabelled = [line.strip() for line in background.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows, unlabelled


def labelled_splits(p: DownloadParams) -> tuple[Rows, Rows, list[str]]:
    """(train, test, unlabelled) from the configured source."""
    unlabelled: list[str] = []
    if p.source == "embedded":
        rows, unlabelled = embedded_reviews()
        train, test = stratified_split(rows, p.test_fraction, p.split_seed)
    elif p.source == "url":
        splits = read_aclimdb_tar(fetch_url(p.url, p.checksum, deadline=p.deadline_seconds))
        train, test = _both(splits, p.url)
    else:
        entries = [Path(e).expanduser() for e in p.path]
        for e in entries:
            if not e.exists():
                raise DataError(f"{e}: no such file or folder (nlp.download.path)")
        folders = [e for e in entries if e.is_dir()]
        if folders:
            if len(entries) > 1:
                raise DataError(f"nlp.download.path: an aclImdb folder ({folders[0]}) must be the only entry")
            train, test = _both(read_aclimdb_folder(folders[0]), str(folders[0]))
        else:
            rows = [row for e in entries for row in read_tsv(e)]
            train, test = stratified_split(rows, p.test_fraction, p.split_seed)
    return limit_per_class(train, p.max_per_class, p.split_seed), limit_per_class(test, p.max_per_class, p.split_seed), unlabelled


def _both(splits: dict[str, Rows], where: str) -> tuple[Rows, Rows]:
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise DataError(f"{where}: no {'/ or '.join(missing)}/ split (aclImdb layout: train/ and test/, each with pos/ and neg/)")
    return splits["train"], splits["test"]


def japanese_text(p: DownloadParams) -> str:
    """The Japanese text of the configured source (UTF-8 checked line by line)."""
    src = p.japanese
    if src.source == "embedded":
        return JAPANESE_TEXT
    path = fetch_url(src.url, src.checksum, deadline=src.deadline_seconds) if src.source == "url" else Path(src.path[0]).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file (nlp.download.japanese.path)")
    text = "\n".join(decode_line(raw, f"{path}:{i}") for i, raw in enumerate(path.read_bytes().splitlines(), start=1))
    if not text.strip():
        raise DataError(f"{path}: empty text")
    return text


def profile(train: Rows, test: Rows, unlabelled: list[str], japanese: str) -> dict:
    """Counts per split and class."""
    def counts(rows: Rows) -> dict:
        return {"n": len(rows), "positive": sum(y for _, y in rows), "negative": sum(1 - y for _, y in rows)}

    return {"train": counts(train), "test": counts(test), "unlabelled_documents": len(unlabelled),
            "japanese_lines": sum(1 for line in japanese.splitlines() if line.strip())}


def main(stage: Declared) -> None:
    p = params.load().download
    train, test, unlabelled = labelled_splits(p)
    japanese = japanese_text(p)
    info = profile(train, test, unlabelled, japanese)
    log.info("train %s, test %s, unlabelled %d documents", info["train"], info["test"], len(unlabelled))
    with stage.outputs() as out:
        corpus = out.dir(stage.out("corpus"))
        (corpus / "train.tsv").write_text(to_tsv(train), encoding="utf-8")
        (corpus / "test.tsv").write_text(to_tsv(test), encoding="utf-8")
        (corpus / "unlabelled.txt").write_text("".join(u.replace("\n", " ") + "\n" for u in unlabelled), encoding="utf-8")
        (corpus / "japanese.txt").write_text(japanese if japanese.endswith("\n") else japanese + "\n", encoding="utf-8")
        out.json(stage.out("profile.json"), info)


if __name__ == "__main__":
    run_stage(main)
