"""Stage `nlp-vocab`: fit the vocabulary on train tokens only; every split to fixed-length ids.

The train split of `nlp-download` (the book's ``train_val``) is cut into train and validation
(``val_fraction``, ``split_seed``: the book's 0.8 / 1234) after the vocabulary is fitted on it, as in
the book; the test split never enters the vocabulary. Outputs: the vocabulary (JSON), the ids and
labels of train, val and test, and counts (vocabulary size, share of ``<unk>`` per split).
"""
from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.corpus import read_documents
from stages.nlp.token_ids import PAD_ID, SPECIALS, UNK_ID, Vocab, val_split

log = logging.getLogger(__name__)


def unk_share(ids: np.ndarray) -> float:
    """Share of word positions (not padding, <cls> or <eos>) that are <unk>."""
    words = ids[:, 1:][(ids[:, 1:] != PAD_ID)]
    return float((words == UNK_ID).sum() / max(len(words) - len(ids), 1))  # minus one <eos> per row


MAX_UNK_SHARE = 0.5  # above this share of <unk> among the train split's words, nlp-vocab warns


def check_vocabulary(vocab: Vocab, train_docs: list[list[str]]) -> None:
    """Refuse a vocabulary with no word; warn when most train words become ``<unk>``.

    Raises:
        DataError: ``nlp.vocab.min_freq`` and the highest count of any train word, when no word is
            seen ``min_freq`` times (every review would be ``<cls> <unk> … <eos>``: nothing to learn).
    """
    words = len(vocab) - len(SPECIALS)
    counts = Counter(t for d in train_docs for t in d)
    if not words:
        top = max(counts.values(), default=0)
        raise DataError(f"params.yaml: nlp.vocab.min_freq = {vocab.min_freq} leaves no word in the vocabulary "
                        f"(the most frequent train word is seen {top} times); lower it")
    known = sum(c for w, c in counts.items() if c >= vocab.min_freq)
    share = 1 - known / max(sum(counts.values()), 1)
    if share > MAX_UNK_SHARE:
        log.warning("nlp.vocab.min_freq = %d: %d words in the vocabulary, %.1f%% of the train split's words are <unk>",
                    vocab.min_freq, words, 100 * share)


def main(stage: Declared) -> None:
    vocab_params = params.load().vocab
    tokens = stage.dep("tokens")
    train_docs, train_y = read_documents(tokens / "train.tsv")
    test_docs, test_y = read_documents(tokens / "test.tsv")
    vocab = Vocab(min_freq=vocab_params.min_freq).fit(train_docs)
    check_vocabulary(vocab, train_docs)
    train_ids, test_ids = vocab.encode(train_docs, vocab_params.max_len), vocab.encode(test_docs, vocab_params.max_len)
    tr, va = val_split(len(train_docs), vocab_params.val_fraction, vocab_params.split_seed)
    y = np.asarray(train_y, dtype=np.int64)
    stats = {"vocab_size": len(vocab), "train": len(tr), "val": len(va), "test": len(test_docs),
             "unk_share_train": unk_share(train_ids), "unk_share_test": unk_share(test_ids),
             "truncated_train": int(sum(len(d) > vocab_params.max_len - 2 for d in train_docs))}
    log.info("vocabulary of %d (min_freq %d); %s", len(vocab), vocab_params.min_freq, stats)
    with stage.outputs() as out:
        out.json(stage.out("vocab.json"), vocab.to_json())
        out.npz(stage.out("ids.npz"), train_ids=train_ids[tr], train_y=y[tr], val_ids=train_ids[va], val_y=y[va],
                test_ids=test_ids, test_y=np.asarray(test_y, dtype=np.int64))
        out.json(stage.out("stats.json"), stats)


if __name__ == "__main__":
    run_stage(main)
