"""Stage `sequence-pairs`: English–Japanese sentence pairs → tokens and vocabularies (translation's data).

Sources (``sequence.pairs.source``), each a folder in the Tanaka-corpus layout of
``odashi/small_parallel_enja``: ``{train,dev,test}.{en,ja}``, one sentence per line, line *i* of the
``.en`` file the translation of line *i* of the ``.ja`` file (a split's shards ``train.en.000``,
``train.en.001``… stand for a missing ``train.en``, read in order):

- ``embedded`` (default): 10,000 train, 500 dev and 500 test pairs vendored in
  ``stages/sequence/datasets/`` (sha256 checked on load; provenance and licence in its README);
- ``path``: such a folder (the full 50,000-pair set, ``git clone`` of the repository above);
- ``url``: a ``.zip`` or ``.tar.gz`` holding such a folder (GitHub's archive of that repository),
  checked against ``sha256``.

English is lower-cased and split on spaces (the corpus tokenised it). Japanese comes split into words
by KyTea: the words are joined again and tokenised by Janome (:class:`stages.nlp.text.JapaneseTokenizer`,
the project's tokeniser; digits become ``0``), so tokenisation is this project's. Vocabularies are
fitted on the training split only (tokens seen ``min_freq`` times or more; ``<pad>``, ``<unk>``,
``<bos>``, ``<eos>`` first). ``max_train_pairs`` (not 0) keeps the first training pairs only (every
line is checked all the same).

Bad input stops the stage with one line naming the file and the line: bytes that are not UTF-8, an
empty line, a line of more than ``max_tokens`` tokens, two files of a split with different line
counts, a vocabulary that would hold nothing but the specials. Nothing is written then.

Outputs: ``pairs/{split}.{en,ja}`` (the tokens, space-separated, one sentence per line),
``pairs/vocab.{en,ja}.txt`` (one token per line, ids in line order), ``metrics.json`` (pairs per
split, tokens per sentence, vocabulary sizes, each split's unknown-token rate), ``lengths.png``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.sequence import params
from stages.sequence.tanaka import LANGUAGES, Files, Tokens, archive_files, folder_files, read_pairs, vendored_files
from stages.sequence.vocab import SPECIALS, Vocab

log = logging.getLogger(__name__)

def fit_vocab(tokens: Tokens, min_freq: int, where: str) -> Vocab:
    """The training split's vocabulary.

    Raises:
        DataError: no token occurs ``min_freq`` times (the vocabulary would hold only the specials).
    """
    vocab = Vocab.fit(tokens, min_freq)
    if len(vocab) == len(SPECIALS):
        raise DataError(f"{where}: no token occurs {min_freq} or more times in the training split, "
                        "so the vocabulary would be empty; lower sequence.pairs.min_freq")
    return vocab


def describe(pairs: Mapping[str, Mapping[str, Tokens]], vocabs: Mapping[str, Vocab]) -> dict:
    """Pairs per split, tokens per sentence (mean, 95th percentile, max) and unknown rate per language."""
    out: dict = {"vocab": {lang: len(v) for lang, v in vocabs.items()}, "splits": {}}
    for split, by_lang in pairs.items():
        row: dict = {"pairs": len(by_lang["en"])}
        for lang, tokens in by_lang.items():
            lengths = np.array([len(t) for t in tokens])
            row[lang] = {"tokens_mean": round(float(lengths.mean()), 3), "tokens_p95": int(np.percentile(lengths, 95)),
                         "tokens_max": int(lengths.max()), "unknown_rate": round(vocabs[lang].unknown_rate(tokens), 4)}
        out["splits"][split] = row
    return out


def figure(pairs: Mapping[str, Mapping[str, Tokens]]):
    fig, axes = new_figure(1, 2, figsize=(10, 3.5))
    for ax, lang in zip(axes, LANGUAGES):
        for split, by_lang in pairs.items():
            lengths = [len(t) for t in by_lang[lang]]
            ax.hist(lengths, bins=range(1, max(lengths) + 2), density=True, histtype="step", label=f"{split} ({len(lengths):,})")
        ax.set(title=f"{lang}: tokens per sentence", xlabel="tokens", ylabel="share of sentences")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def source_files(p: params.PairsParams) -> tuple[Files, str]:
    if p.source == "embedded":
        return vendored_files()
    if p.source == "path":
        return folder_files(Path(p.path[0]).expanduser())
    if p.sha256 is None and p.md5 is None:
        raise DataError(f"{p.url}: sequence.pairs.sha256 is not set; none is published for this archive: download it once, "
                        "run sha256sum on it and put the digest there")
    return archive_files(fetch_url(p.url, p.checksum, deadline=p.deadline_seconds))


def main(stage: Declared) -> None:
    p = params.load().pairs
    files, where = source_files(p)
    pairs = read_pairs(files, where, p.max_tokens, p.max_train_pairs)
    vocabs = {lang: fit_vocab(pairs["train"][lang], p.min_freq, f"{where}/train.{lang}") for lang in LANGUAGES}
    metrics = {"source": p.source, **describe(pairs, vocabs)}
    log.info("vocabularies: %s", metrics["vocab"])
    with stage.outputs() as out:
        folder = out.dir(stage.out("pairs"))
        for split, by_lang in pairs.items():
            for lang, tokens in by_lang.items():
                (folder / f"{split}.{lang}").write_bytes("".join(" ".join(t) + "\n" for t in tokens).encode())
        for lang, vocab in vocabs.items():
            (folder / f"vocab.{lang}.txt").write_bytes("".join(t + "\n" for t in vocab.tokens).encode())
        out.json(stage.out("metrics.json"), metrics)
        out.figure(stage.out("lengths.png"), figure(pairs))


if __name__ == "__main__":
    run_stage(main)
