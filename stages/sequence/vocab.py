"""Token vocabularies: fitted on the training split only, with ``<pad>``, ``<unk>``, ``<bos>`` and ``<eos>``.

A token is whatever the caller splits a text into (characters for the date task). Ids 0-3 are the
specials in that order, then the training tokens by falling count (ties by the token itself), so the
same training data always gives the same ids.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)


class Vocab:
    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {', '.join(SPECIALS)}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a vocabulary lists each token once")

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1) -> "Vocab":
        counts = Counter(t for seq in sequences for t in seq)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS), key=lambda t: (-counts[t], t))
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, seq: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(t, unk) for t in seq]

    def unknown_rate(self, sequences: Sequence[Sequence[str]]) -> float:
        """Share of tokens not in the vocabulary."""
        total = sum(len(s) for s in sequences)
        missing = sum(t not in self.index for s in sequences for t in s)
        return missing / total if total else 0.0

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to the first ``<eos>``, specials left out."""
        out = []
        for i in ids:
            token = self.tokens[int(i)]
            if token == EOS:
                break
            if token not in SPECIALS:
                out.append(token)
        return out


def encode_padded(vocab: Vocab, sequences: Sequence[Sequence[str]], *, bos: bool = False, eos: bool = False,
                  length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sequences as one int64 array (N, length) padded with ``<pad>`` (0), and each one's length.

    Raises:
        ValueError: a sequence is longer than ``length``.
    """
    rows = [([vocab.index[BOS]] if bos else []) + vocab.ids(s) + ([vocab.index[EOS]] if eos else []) for s in sequences]
    width = length if length is not None else max((len(r) for r in rows), default=0)
    too_long = [i for i, r in enumerate(rows) if len(r) > width]
    if too_long:
        raise ValueError(f"sequence {too_long[0]} has {len(rows[too_long[0]])} tokens, more than {width}")
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out, np.array([len(r) for r in rows], dtype=np.int64)
