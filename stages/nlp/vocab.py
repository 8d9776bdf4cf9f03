"""Stage `nlp-vocab`: fit the vocabulary on train tokens only; every split to fixed-length ids.

The train split of `nlp-download` (the book's ``train_val``) is cut into train and validation
(``val_fraction``, ``split_seed``: the book's 0.8 / 1234) after the vocabulary is fitted on it, as in
the book; the test split never enters the vocabulary. Outputs: the vocabulary (JSON), the ids and
labels of train, val and test, and counts (vocabulary size, share of ``<unk>`` per split).
"""
from __future__ import annotations

import logging

import numpy as np

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.nlp import params
from stages.nlp.corpus import read_documents
from stages.nlp.vocabulary import PAD_ID, UNK_ID, Vocab, val_split

log = logging.getLogger(__name__)


def unk_share(ids: np.ndarray) -> float:
    """Share of word positions (not padding, <cls> or <eos>) that are <unk>."""
    words = ids[:, 1:][(ids[:, 1:] != PAD_ID)]
    return float((words == UNK_ID).sum() / max(len(words) - len(ids), 1))  # minus one <eos> per row


def main(stage: Declared) -> None:
    p = params.load().vocab
    tokens = stage.dep("tokens")
    train_docs, train_y = read_documents(tokens / "train.tsv")
    test_docs, test_y = read_documents(tokens / "test.tsv")
    vocab = Vocab(min_freq=p.min_freq).fit(train_docs)
    train_ids, test_ids = vocab.encode(train_docs, p.max_len), vocab.encode(test_docs, p.max_len)
    tr, va = val_split(len(train_docs), p.val_fraction, p.split_seed)
    y = np.asarray(train_y, dtype=np.int64)
    stats = {"vocab_size": len(vocab), "train": len(tr), "val": len(va), "test": len(test_docs),
             "unk_share_train": unk_share(train_ids), "unk_share_test": unk_share(test_ids),
             "truncated_train": int(sum(len(d) > p.max_len - 2 for d in train_docs))}
    log.info("vocabulary of %d (min_freq %d); %s", len(vocab), p.min_freq, stats)
    with stage.outputs() as out:
        out.json(stage.out("vocab.json"), vocab.to_json())
        out.npz(stage.out("ids.npz"), train_ids=train_ids[tr], train_y=y[tr], val_ids=train_ids[va], val_y=y[va],
                test_ids=test_ids, test_y=np.asarray(test_y, dtype=np.int64))
        out.json(stage.out("stats.json"), stats)


if __name__ == "__main__":
    run_stage(main)
