"""Stage `nlp-japanese`: Janome tokens of the Japanese text, word2vec and fastText trained on them,
nearest neighbours and analogies reported as they come.

The default text is two works of Natsume Sōseki (坊っちゃん, こころ; `nlp-download`). Each line (a
paragraph in Aozora Bunko's layout) is preprocessed as the book does (no line breaks or spaces,
digits → 0) and cut into words by Janome (``wakati``), then gensim's word2vec and fastText (skip-gram
or CBOW, ``nlp.japanese.skipgram``; one worker thread, ``common.seed``: the same vectors on every run on this host) are trained on them.

The report (``report.json``) gives, for each model, the top neighbours of each word of
``nlp.japanese.neighbours`` and, for each analogy ``[a, b, c, expected]`` (a − b + c ≈ expected), the
top neighbours and whether ``expected`` is among them (``holds``), or the words missing from the
vocabulary. Nothing is filtered: an analogy that fails is reported as failing. ``metrics.json`` (the
DVC metric) holds its numbers: corpus counts, and per model the vocabulary and the analogies holding.
"""
from __future__ import annotations

import logging

from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.corpus import read_lines
from stages.nlp.params import JapaneseParams
from stages.nlp.text import JapaneseTokenizer

log = logging.getLogger(__name__)


def tokenize_lines(lines: list[str], tokenizer: JapaneseTokenizer) -> list[list[str]]:
    """Janome tokens of each non-empty line (lines that preprocess to nothing are dropped)."""
    return [tokens for line in lines if (tokens := tokenizer(line))]


def train_vectors(docs: list[list[str]], japanese_params: JapaneseParams, seed: int) -> dict:
    """``{"word2vec": KeyedVectors, "fasttext": FastTextKeyedVectors}`` trained on ``docs``."""
    from gensim.models import FastText, Word2Vec

    logging.getLogger("gensim").setLevel(logging.WARNING)
    # one worker: gensim's result depends on thread scheduling otherwise
    common = dict(sentences=docs, vector_size=japanese_params.dim, window=japanese_params.window,
                  min_count=japanese_params.min_count, epochs=japanese_params.epochs, sg=int(japanese_params.skipgram), seed=seed,
                  workers=1)
    return {"word2vec": Word2Vec(**common).wv, "fasttext": FastText(**common).wv}


def _missing(kv, words: list[str]) -> list[str]:
    return [w for w in words if w not in kv.key_to_index]


def neighbours(kv, words: list[str], topn: int) -> dict:
    """Each word's ``topn`` nearest words by cosine (``{"missing": True}`` for a word not in the vocabulary)."""
    return {w: ({"missing": True} if _missing(kv, [w]) else
                {"top": [[n, round(float(s), 4)] for n, s in kv.most_similar(w, topn=topn)]}) for w in words}


def analogies(kv, queries: list[list[str]], topn: int) -> list[dict]:
    """``a - b + c`` for each ``[a, b, c, expected]``: the top neighbours, the rank of ``expected`` among
    them (1-based, None when absent) and ``holds`` (expected in the top ``topn``)."""
    out = []
    for a, b, c, expected in queries:
        entry: dict = {"query": f"{a} - {b} + {c}", "expected": expected}
        missing = _missing(kv, [a, b, c, expected])
        if missing:
            entry.update(missing=missing, holds=False)
        else:
            top = [w for w, _ in kv.most_similar(positive=[a, c], negative=[b], topn=topn)]
            entry.update(top=top, rank=top.index(expected) + 1 if expected in top else None, holds=expected in top)
        out.append(entry)
    return out


def report(docs: list[list[str]], models: dict, japanese_params: JapaneseParams) -> dict:
    """The metrics file: corpus counts, then neighbours and analogies per model."""
    out: dict = {"lines": len(docs), "tokens": sum(map(len, docs)), "distinct": len({t for d in docs for t in d}),
                 "topn": japanese_params.topn}
    for name, kv in models.items():
        found = analogies(kv, japanese_params.analogies, japanese_params.topn)
        out[name] = {"vocabulary": len(kv.key_to_index),
                     "neighbours": neighbours(kv, japanese_params.neighbours, japanese_params.topn),
                     "analogies": found, "analogies_holding": sum(e["holds"] for e in found)}
    return out


def summary(result: dict, models: tuple[str, ...] = ("word2vec", "fasttext")) -> dict:
    """The report's numbers (for ``dvc metrics``): corpus counts, vocabulary and analogies holding per model."""
    out = {k: result[k] for k in ("lines", "tokens", "distinct")}
    for name in models:
        out[name] = {"vocabulary": result[name]["vocabulary"], "analogies_holding": result[name]["analogies_holding"],
                     "analogies": len(result[name]["analogies"])}
    return out


def main(stage: Declared) -> None:
    japanese_params, seed = params.load().japanese, load_common().seed
    docs = tokenize_lines(read_lines(stage.dep("corpus") / "japanese.txt"), JapaneseTokenizer())
    models = train_vectors(docs, japanese_params, seed)
    result = report(docs, models, japanese_params)
    for name in models:
        log.info("%s: %d words; analogies holding: %d of %d", name, result[name]["vocabulary"],
                 result[name]["analogies_holding"], len(japanese_params.analogies))
    with stage.outputs() as out:
        out.json(stage.out("report.json"), result)
        out.json(stage.out("metrics.json"), summary(result, tuple(models)))


if __name__ == "__main__":
    run_stage(main)
