"""Tokens to ids: the vocabulary (:class:`Vocab`), fitted on train tokens only, then used to turn every
split into fixed-length ids; the special ids; the train/validation cut. A library: the stage that fits
and saves the vocabulary is :mod:`stages.nlp.vocab` (``nlp-vocab``); nlp-vectors, -train and -evaluate
read it.

Ids follow the book (torchtext): ``<unk>`` = 0, ``<pad>`` = 1, then ``<cls>`` and ``<eos>``, then
the words seen at least ``min_freq`` times in train, most frequent first (ties alphabetical). A review
becomes ``<cls> w1 … wk <eos> <pad> …`` of exactly ``max_len`` ids (at most ``max_len - 2`` words).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

UNK, PAD, CLS, EOS = "<unk>", "<pad>", "<cls>", "<eos>"
SPECIALS = (UNK, PAD, CLS, EOS)
UNK_ID, PAD_ID, CLS_ID, EOS_ID = range(4)


@dataclass
class Vocab:
    """Word ↔ id mapping, scikit-learn style: ``fit`` learns ``itos_``, ``encode`` refuses to run before it."""

    min_freq: int = 1
    itos_: list[str] = field(default_factory=list)

    def fit(self, docs: list[list[str]]) -> "Vocab":
        """Learn the words of ``docs`` (train only) seen at least ``min_freq`` times."""
        counts = Counter(t for d in docs for t in d)
        words = sorted((w for w, c in counts.items() if c >= self.min_freq and w not in SPECIALS),
                       key=lambda w: (-counts[w], w))
        self.itos_ = [*SPECIALS, *words]
        return self

    @property
    def stoi(self) -> dict[str, int]:
        assert self.itos_, "Vocab.fit has not run"
        return {w: i for i, w in enumerate(self.itos_)}

    def __len__(self) -> int:
        return len(self.itos_)

    def encode(self, docs: list[list[str]], max_len: int) -> np.ndarray:
        """(N, max_len) int64 ids: ``<cls>`` + words (``<unk>`` for unseen ones) + ``<eos>``, ``<pad>`` after."""
        assert self.itos_, "Vocab.fit has not run"
        assert max_len >= 3, f"max_len must leave room for <cls>, a word and <eos> (got {max_len})"
        stoi = self.stoi
        ids = np.full((len(docs), max_len), PAD_ID, dtype=np.int64)
        for i, doc in enumerate(docs):
            words = [stoi.get(t, UNK_ID) for t in doc[: max_len - 2]]
            ids[i, : len(words) + 2] = [CLS_ID, *words, EOS_ID]
        return ids

    def decode(self, ids: np.ndarray) -> list[str]:
        """Tokens of one id row (padding included)."""
        return [self.itos_[int(i)] for i in ids]

    def to_json(self) -> dict:
        return {"min_freq": self.min_freq, "itos": self.itos_}

    @classmethod
    def from_json(cls, data: dict) -> "Vocab":
        vocab = cls(min_freq=int(data["min_freq"]), itos_=list(data["itos"]))
        assert tuple(vocab.itos_[:4]) == SPECIALS, f"not a vocabulary of this pipeline (starts {vocab.itos_[:4]})"
        return vocab


def val_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and validation examples: a seeded permutation, ``round(n * val_fraction)`` to validation."""
    perm = np.random.default_rng(seed).permutation(n)
    k = min(max(1, round(n * val_fraction)), n - 1)
    return np.sort(perm[k:]), np.sort(perm[:k])
