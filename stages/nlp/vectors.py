"""Stage `nlp-vectors`: word vectors for the vocabulary, and the course's analogy queries.

``nlp.vectors.source``:

- ``trained`` (default): gensim word2vec and fastText, both trained on the train split's tokens (the
  validation part included, the test split never) and the unlabelled text; ``use`` picks which one
  fills the classifier's embedding. One worker thread and ``common.seed``: the same vectors on every
  run on this host.
- ``url`` / ``path``: a pretrained ``.vec`` file (fastText's text format: an optional ``N dim``
  header, then ``word v1 … v_dim`` per line; also ``.vec.zip`` and ``.vec.gz``). No checksum is
  published for fastText's English vectors, so a ``url`` needs the sha256 you computed once. A file
  whose dimension is not ``nlp.vectors.dim`` (the Transformer's width) is refused with its file and line.

Words of the vocabulary without a vector get zeros (as torchtext does), the four specials too. A
``.vec`` that is empty, holds a non-finite value for a vocabulary word, or gives no word of the
vocabulary a vector is refused (file and line); one that covers less than half the vocabulary is
used with a warning giving the share. (Japanese vectors: stage `nlp-japanese`.)
"""
from __future__ import annotations

import gzip
import io
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.io import read_json
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.corpus import read_documents
from stages.nlp.params import VectorsParams
from stages.nlp.text import without_bom
from stages.nlp.token_ids import SPECIALS, Vocab

log = logging.getLogger(__name__)


def train_gensim(docs: list[list[str]], vectors_params: VectorsParams, seed: int) -> dict:
    """word2vec and fastText (gensim, skip-gram off: CBOW as gensim's default) on ``docs``.

    Returns:
        ``{"word2vec": KeyedVectors, "fasttext": FastTextKeyedVectors}``.
    """
    from gensim.models import FastText, Word2Vec

    logging.getLogger("gensim").setLevel(logging.WARNING)  # a line per epoch otherwise
    # one worker: gensim's result depends on thread scheduling otherwise
    common = dict(sentences=docs, vector_size=vectors_params.dim, window=vectors_params.window,
                  min_count=vectors_params.min_count, epochs=vectors_params.epochs, seed=seed, workers=1)
    return {"word2vec": Word2Vec(**common).wv, "fasttext": FastText(**common).wv}


def _vec_lines(path: Path) -> Iterator[bytes]:
    """Lines of a .vec, .vec.gz or .vec.zip (the one .vec member) file, as bytes."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith(".vec")]
            if len(members) != 1:
                raise DataError(f"{path}: expected one .vec file in the zip archive (found {members or 'none'})")
            with zf.open(members[0]) as f:
                yield from io.BufferedReader(f)
    elif path.name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            yield from f
    else:
        with open(path, "rb") as f:
            yield from f


def read_vec(path: str | Path, words: set[str], dim: int) -> dict[str, np.ndarray]:
    """The vectors of ``words`` in a fastText text file; every line's dimension is checked.

    Raises:
        DataError: the file and line where the dimension is not ``dim``, a value is not a number or not
            finite (NaN, inf: it would make every loss NaN), or a line is not UTF-8; a file with no vector.
    """
    path = Path(path)
    found: dict[str, np.ndarray] = {}
    vectors = 0
    try:
        for i, raw in enumerate(_vec_lines(path), start=1):
            if i == 1:
                raw = without_bom(raw)
            if not raw.strip():
                continue  # a blank line (a trailing newline) holds no vector
            parts = raw.rstrip(b"\r\n ").split(b" ")
            if i == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                if int(parts[1]) != dim:
                    raise DataError(f"{path}:1: the vectors have dimension {int(parts[1])} (header), the model's is "
                                    f"nlp.vectors.dim = {dim}; set nlp.vectors.dim to {int(parts[1])} or use other vectors")
                continue
            if len(parts) - 1 != dim:
                raise DataError(f"{path}:{i}: {len(parts) - 1} values, expected nlp.vectors.dim = {dim}")
            vectors += 1
            try:
                word = parts[0].decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{i}: a word that is not UTF-8") from None
            if word in words and word not in found:
                try:
                    vector = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path}:{i}: a value that is not a number") from None
                if not np.isfinite(vector).all():
                    bad = parts[1 + int(np.flatnonzero(~np.isfinite(vector))[0])].decode("ascii", "replace")
                    raise DataError(f"{path}:{i}: the vector of {word!r} holds a non-finite value ({bad}); "
                                    "it would make every loss NaN")
                found[word] = vector
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not readable as a .vec file ({exc})") from None
    if not vectors:
        raise DataError(f"{path}: no vectors (an empty .vec file; expected lines 'word v1 ... v{dim}')")
    return found


MIN_COVERAGE = 0.5  # below this share of the vocabulary with a vector, nlp-vectors warns


def check_coverage(with_vector: int, words: int, source: str) -> None:
    """Refuse vectors that give no word of the vocabulary a vector; warn when fewer than half have one.

    Raises:
        DataError: ``source`` and the vocabulary's size, when no word has a vector (the classifier's
            inputs would be all zeros: with frozen embeddings it could learn nothing from the words).
    """
    if words and not with_vector:
        raise DataError(f"{source}: no word of the vocabulary ({words} words) has a vector; "
                        "wrong language or lower-casing (nlp.tokenize.lowercase)?")
    if words and with_vector / words < MIN_COVERAGE:
        log.warning("%s: only %d of %d vocabulary words (%.1f%%) have a vector; the others start as zeros",
                    source, with_vector, words, 100 * with_vector / words)


def embedding_matrix(vocab: Vocab, lookup, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, dim) float32 vectors in vocabulary order, and the (V,) mask of words that had one.

    ``lookup(word)`` returns a vector or None; specials and words without one stay zero.
    """
    vectors = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    for i, word in enumerate(vocab.itos_):
        if word in SPECIALS:
            continue
        v = lookup(word)
        if v is not None:
            vectors[i], found[i] = v, True
    return vectors, found


def analogies(kv, queries: list[list[str]], topn: int = 5) -> list[dict]:
    """``a - b + c`` for each ``[a, b, c]``: the top-``topn`` neighbours (word, cosine), or the missing words."""
    out = []
    for a, b, c in queries:
        missing = [w for w in (a, b, c) if w not in kv.key_to_index]
        entry = {"query": f"{a} - {b} + {c}"}
        if missing:
            entry["missing"] = missing
        else:
            entry["top"] = [[w, round(float(s), 4)] for w, s in kv.most_similar(positive=[a, c], negative=[b], topn=topn)]
        out.append(entry)
    return out


def pretrained_path(vectors_params: VectorsParams) -> Path:
    """The .vec file of a ``url`` or ``path`` source (downloaded once and checked)."""
    if vectors_params.source == "path":
        path = Path(vectors_params.path).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: no such file (nlp.vectors.path)")
        return path
    if vectors_params.sha256 is None:
        raise DataError(f"params.yaml: nlp.vectors.sha256 is not set: no checksum is published for {vectors_params.url}; "
                        "download it once, check it, and set nlp.vectors.sha256 to its sha256 (sha256sum <file>)")
    return fetch_url(vectors_params.url, f"sha256:{vectors_params.sha256}", deadline=vectors_params.deadline_seconds)


def main(stage: Declared) -> None:
    vectors_params, seed = params.load().vectors, load_common().seed
    tokens = stage.dep("tokens")
    vocab = Vocab.from_json(read_json(stage.dep("vocab.json")))
    train_docs, _ = read_documents(tokens / "train.tsv")
    unlabelled, _ = read_documents(tokens / "unlabelled.txt", labelled=False)
    report: dict = {}
    if vectors_params.source == "trained":
        en = train_gensim([d for d in train_docs + (unlabelled if vectors_params.unlabelled else []) if d], vectors_params, seed)
        kv = en[vectors_params.use]
        vectors, found = embedding_matrix(
            vocab, lambda w: kv[w] if w in kv.key_to_index or vectors_params.use == "fasttext" else None, vectors_params.dim)
        in_model = np.array([w in kv.key_to_index for w in vocab.itos_])
        report["english"] = {k: analogies(m, vectors_params.analogies) for k, m in en.items()}
        source = (f"gensim {vectors_params.use} trained on {len(train_docs)} train + "
                  f"{len(unlabelled) if vectors_params.unlabelled else 0} unlabelled documents")
    else:
        path = pretrained_path(vectors_params)
        table = read_vec(path, set(vocab.itos_), vectors_params.dim)
        vectors, found = embedding_matrix(vocab, table.get, vectors_params.dim)
        in_model = found
        report["english"] = {}
        source = str(vectors_params.url if vectors_params.source == "url" else path)
    words = len(vocab) - len(SPECIALS)
    check_coverage(int(found.sum()), words, source)
    coverage = {"vocab_words": words, "with_vector": int(found.sum()), "in_vector_vocab": int(in_model[len(SPECIALS):].sum()),
                "coverage": float(in_model[len(SPECIALS):].sum() / max(words, 1)), "dim": vectors_params.dim, "source": source}
    log.info("vectors: %s", coverage)
    with stage.outputs() as out:
        out.npz(stage.out("embedding.npz"), vectors=vectors, found=found)
        out.json(stage.out("coverage.json"), coverage)
        out.json(stage.out("analogies.json"), report)


if __name__ == "__main__":
    run_stage(main)
