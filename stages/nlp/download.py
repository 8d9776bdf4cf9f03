"""Stage `nlp-download`: labelled reviews (train and test), unlabelled text and a Japanese text.

Sources (``nlp.download.source``):

- ``embedded`` (default): Pang & Lee's sentence polarity dataset v1.0, vendored in
  ``stages/nlp/datasets/`` (10,662 movie-review snippets, 5,331 per class; sha256 checked on load),
  split into train and test by ``test_fraction`` (stratified, ``split_seed``). Test sentences that also
  occur in gensim's 200 (the ``gensim`` source, the smoke setting) are dropped from test, so a model
  or a vector set tuned on those never sees a test sentence; no unlabelled text;
- ``gensim``: gensim's test data ``pang_lee_polarity.cor`` (200 movie-review sentences, 100 positive,
  100 negative; stored as cp1252, decoded here) split the same way, and ``lee_background.cor`` (300
  news documents) as unlabelled text for the word vectors (the smoke profile's data: seconds);
- ``url``: the IMDb archive (``aclImdb_v1.tar.gz``, checked by its published md5), its own train and
  test splits (25,000 reviews each);
- ``path``: one aclImdb folder (its own splits), or TSV files ``text<TAB>label`` pooled and split by
  ``test_fraction``.

The Japanese text (``nlp.download.japanese``): ``embedded`` is two works of Natsume Sōseki vendored
in ``stages/nlp/datasets/`` (坊っちゃん and こころ, Aozora Bunko, public domain; sha256 checked);
``story`` the short text in ``stages/nlp/japanese.py`` (the smoke setting); ``url`` and ``path`` read
a UTF-8 text file. Outputs are written all or nothing: a bad row stops the stage with its file and
line, a source with one class only is refused here (not at evaluation), and nothing is left behind.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.core.vendored import vendored_file
from stages.nlp import params
from stages.nlp.japanese import TEXT as JAPANESE_TEXT
from stages.nlp.params import DownloadParams
from stages.nlp.text import decode_line, read_aclimdb_folder, read_aclimdb_tar, read_fasttext_labelled, read_tsv, to_tsv, without_bom

log = logging.getLogger(__name__)

Rows = list[tuple[str, int]]

DATASETS = Path(__file__).resolve().parent / "datasets"
# sha256 of each vendored file (stages/nlp/datasets/README.md gives provenance, licence and citation)
VENDORED = {
    "rt-polarity.pos": "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58",
    "rt-polarity.neg": "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd",
    "soseki__bocchan.txt": "c12a9cf9a2db1873e2d72a12021d0ca30af95ecbb480b2a6a3d30f33ecaff879",
    "soseki__kokoro.txt": "220beddf3ee51973cad4c23f4668a11e2883adeafdd30e36a2812d20f0d39a12",
}
SOSEKI = ("soseki__bocchan.txt", "soseki__kokoro.txt")


def vendored(name: str, folder: Path = DATASETS) -> Path:
    """The path of a vendored file, its sha256 checked (core's :func:`vendored_file`)."""
    return vendored_file(folder, name, VENDORED[name])


def normalise(text: str) -> str:
    """A sentence for comparison across sources: whitespace runs to one space, lower case."""
    return " ".join(text.split()).lower()


def polarity_reviews(folder: Path = DATASETS) -> Rows:
    """Pang & Lee's 10,662 sentences (positive file first, file order), label 1 positive, 0 negative."""
    rows: Rows = []
    for name, label in (("rt-polarity.pos", 1), ("rt-polarity.neg", 0)):
        path = vendored(name, folder)
        for i, raw in enumerate(without_bom(path.read_bytes()).splitlines(), start=1):
            text = decode_line(raw, f"{path}:{i}").strip()
            if not text:
                raise DataError(f"{path}:{i}: empty sentence")
            rows.append((text, label))
    return rows


def drop_overlap(test: Rows, other: list[str]) -> tuple[Rows, int]:
    """``test`` without the rows whose text (normalised) occurs in ``other``, and how many were dropped."""
    seen = {normalise(t) for t in other}
    kept = [r for r in test if normalise(r[0]) not in seen]
    return kept, len(test) - len(kept)


def require_both_classes(rows: Rows, where: str) -> None:
    """Refuse rows with one label only: a classifier (and its evaluation) needs both.

    Raises:
        DataError: ``where`` and the one label found (or no rows at all).
    """
    labels = sorted({y for _, y in rows})
    if labels != [0, 1]:
        found = f"only label {labels[0]} ({len(rows)} reviews)" if labels else "no reviews"
        raise DataError(f"{where}: {found}; a sentiment classifier needs both labels 0 (negative) and 1 (positive)")


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


def gensim_reviews() -> tuple[Rows, list[str]]:
    """gensim's labelled sentences and its unlabelled news documents."""
    from gensim.test.utils import datapath

    labelled = Path(datapath("pang_lee_polarity.cor"))
    background = Path(datapath("lee_background.cor"))
    rows = read_fasttext_labelled(labelled.read_bytes(), str(labelled), encoding="cp1252")  # as gensim ships it
    unlabelled = [line.strip() for line in background.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows, unlabelled


def labelled_splits(download_params: DownloadParams) -> tuple[Rows, Rows, list[str]]:
    """(train, test, unlabelled) from the configured source.

    Raises:
        DataError: a bad file (named with its line), or a split with one class only.
    """
    unlabelled: list[str] = []
    if download_params.source == "embedded":
        rows = polarity_reviews()
        train, test = stratified_split(rows, download_params.test_fraction, download_params.split_seed)
        test, dropped = drop_overlap(test, [t for t, _ in gensim_reviews()[0]])
        log.info("dropped %d test sentences that are also in gensim's pang_lee_polarity.cor", dropped)
    elif download_params.source == "gensim":
        rows, unlabelled = gensim_reviews()
        train, test = stratified_split(rows, download_params.test_fraction, download_params.split_seed)
    elif download_params.source == "url":
        splits = read_aclimdb_tar(fetch_url(download_params.url, download_params.checksum,
                                            deadline=download_params.deadline_seconds))
        train, test = _both(splits, download_params.url)
    else:
        entries = [Path(e).expanduser() for e in download_params.path]
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
            require_both_classes(rows, ", ".join(map(str, entries)))
            train, test = stratified_split(rows, download_params.test_fraction, download_params.split_seed)
    train, test = (limit_per_class(train, download_params.max_per_class, download_params.split_seed),
                   limit_per_class(test, download_params.max_per_class, download_params.split_seed))
    require_both_classes(train, f"nlp.download.source {download_params.source}: the train split")
    require_both_classes(test, f"nlp.download.source {download_params.source}: the test split")
    return train, test, unlabelled


def _both(splits: dict[str, Rows], where: str) -> tuple[Rows, Rows]:
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise DataError(f"{where}: no {'/ or '.join(missing)}/ split (aclImdb layout: train/ and test/, each with pos/ and neg/)")
    return splits["train"], splits["test"]


def japanese_text(download_params: DownloadParams) -> str:
    """The Japanese text of the configured source (UTF-8 checked line by line)."""
    src = download_params.japanese
    if src.source == "story":
        return JAPANESE_TEXT
    if src.source == "embedded":
        return "".join(_utf8_text(vendored(name)) + "\n" for name in SOSEKI)
    path = fetch_url(src.url, src.checksum, deadline=src.deadline_seconds) if src.source == "url" else Path(src.path[0]).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file (nlp.download.japanese.path)")
    return _utf8_text(path)


def _utf8_text(path: Path) -> str:
    """A UTF-8 text file's text (checked line by line, a leading byte-order mark dropped)."""
    text = "\n".join(decode_line(raw, f"{path}:{i}") for i, raw in enumerate(without_bom(path.read_bytes()).splitlines(), start=1))
    if not text.strip():
        raise DataError(f"{path}: empty text")
    return text


def profile(train: Rows, test: Rows, unlabelled: list[str], japanese: str) -> dict:
    """Counts per split and class (test after any overlap with gensim's sentences is dropped)."""
    def counts(rows: Rows) -> dict:
        return {"n": len(rows), "positive": sum(y for _, y in rows), "negative": sum(1 - y for _, y in rows)}

    return {"train": counts(train), "test": counts(test), "unlabelled_documents": len(unlabelled),
            "japanese_lines": sum(1 for line in japanese.splitlines() if line.strip())}


def main(stage: Declared) -> None:
    download_params = params.load().download
    train, test, unlabelled = labelled_splits(download_params)
    japanese = japanese_text(download_params)
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
