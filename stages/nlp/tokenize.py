"""Stage `nlp-tokenize`: the course's English preprocessing and tokeniser.

English reviews (train, test and the unlabelled text) go through :func:`stages.nlp.text.tokenize_english`
(the Japanese text is tokenised by `nlp-japanese`, which needs nothing else of this pipeline). Outputs: the
tokenised documents (one per line), token counts per split, and a histogram of review lengths in
tokens (the reason for ``nlp.vocab.max_len``).
"""
from __future__ import annotations

import logging

import numpy as np

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.corpus import read_labelled, read_lines, write_documents
from stages.nlp.text import tokenize_english

log = logging.getLogger(__name__)


def tokenize_all(texts: list[str], lowercase: bool) -> list[list[str]]:
    """English tokens of every text."""
    return [tokenize_english(t, lowercase) for t in texts]


def token_stats(docs: list[list[str]]) -> dict:
    """Documents, tokens, distinct tokens and length percentiles of one split."""
    lengths = np.array([len(d) for d in docs]) if docs else np.zeros(1, int)
    return {"documents": len(docs), "tokens": int(lengths.sum()), "distinct": len({t for d in docs for t in d}),
            "length_median": float(np.median(lengths)), "length_p95": float(np.percentile(lengths, 95)),
            "length_max": int(lengths.max())}


def length_histogram(splits: dict[str, list[list[str]]]):
    """A histogram of document lengths (tokens) per split."""
    fig, ax = new_figure(figsize=(6, 3.2))
    top = max((len(d) for docs in splits.values() for d in docs), default=1)
    bins = np.linspace(0, top + 1, 31)
    for name, docs in splits.items():
        if docs:
            ax.hist([len(d) for d in docs], bins=bins, alpha=0.6, label=f"{name} ({len(docs)})")
    ax.set_xlabel("tokens per document")
    ax.set_ylabel("documents")
    ax.legend()
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    tokenize_params = params.load().tokenize
    corpus = stage.dep("corpus")
    train_texts, train_y = read_labelled(corpus / "train.tsv")
    test_texts, test_y = read_labelled(corpus / "test.tsv")
    train, test = tokenize_all(train_texts, tokenize_params.lowercase), tokenize_all(test_texts, tokenize_params.lowercase)
    unlabelled = tokenize_all(read_lines(corpus / "unlabelled.txt"), tokenize_params.lowercase)
    stats = {name: token_stats(docs) for name, docs in (("train", train), ("test", test), ("unlabelled", unlabelled))}
    log.info("tokens: %s", {k: v["tokens"] for k, v in stats.items()})
    with stage.outputs() as out:
        folder = out.dir(stage.out("tokens"))
        (folder / "train.tsv").write_text(write_documents(train, train_y), encoding="utf-8")
        (folder / "test.tsv").write_text(write_documents(test, test_y), encoding="utf-8")
        (folder / "unlabelled.txt").write_text(write_documents(unlabelled), encoding="utf-8")
        out.json(stage.out("stats.json"), stats)
        out.figure(stage.out("lengths.png"), length_histogram({"train": train, "test": test}))


if __name__ == "__main__":
    run_stage(main)
