"""The nlp defects a new user hit (issue 20, item 4), each refused (or warned about) at the first stage
that can see it, and the vendored default data (issue 20, item 2): checked, split, kept apart from
gensim's 200 sentences."""
from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from stages.core.errors import DataError
from stages.nlp import download, vectors
from stages.nlp.download import drop_overlap, gensim_reviews, normalise, polarity_reviews, require_both_classes
from stages.nlp.params import DownloadParams, JapaneseSourceParams
from stages.nlp.text import read_tsv
from stages.nlp.train import check_frozen_vectors
from stages.nlp.vocab import check_vocabulary
from stages.nlp.token_ids import Vocab


def _params(**kw) -> DownloadParams:
    base = dict(source="embedded", test_fraction=0.1, split_seed=0, max_per_class=0,
                japanese=JapaneseSourceParams(source="story"))
    return DownloadParams(**{**base, **kw})


# ---- .vec files -----------------------------------------------------------------------------------

def test_an_empty_vec_file_is_refused(tmp_path):
    empty = tmp_path / "empty.vec"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.vec: no vectors \(an empty \.vec file"):
        vectors.read_vec(empty, {"film"}, 4)
    empty.write_text("0 4\n")  # a header and nothing else
    with pytest.raises(DataError, match=r"empty\.vec: no vectors"):
        vectors.read_vec(empty, {"film"}, 4)


def test_a_non_finite_vector_is_refused_with_its_file_and_line(tmp_path):
    path = tmp_path / "nan.vec"
    path.write_text("2 3\nfilm 1 2 3\ngreat 0.5 nan 1\n")
    with pytest.raises(DataError, match=r"nan\.vec:3: the vector of 'great' holds a non-finite value \(nan\)"):
        vectors.read_vec(path, {"film", "great"}, 3)
    path.write_text("film 1 2 3\ngreat 0.5 inf 1\n")
    with pytest.raises(DataError, match=r"nan\.vec:2: .*non-finite value \(inf\)"):
        vectors.read_vec(path, {"great"}, 3)


def test_a_vec_covering_no_word_is_refused_and_a_low_coverage_warned(caplog):
    with pytest.raises(DataError, match=r"other\.vec: no word of the vocabulary \(120 words\) has a vector"):
        vectors.check_coverage(0, 120, "other.vec")
    with caplog.at_level(logging.WARNING, logger="stages.nlp.vectors"):
        vectors.check_coverage(12, 120, "some.vec")
    assert "only 12 of 120 vocabulary words (10.0%) have a vector" in caplog.text
    caplog.clear()
    vectors.check_coverage(100, 120, "good.vec")
    assert not caplog.records


def test_frozen_all_zero_word_vectors_are_refused_at_train():
    zeros = torch.zeros(10, 4)
    zeros[:4] = 1.0  # the specials do not count
    with pytest.raises(DataError, match=r"embedding\.npz: every word vector is zero and nlp\.train\.freeze_embedding is true"):
        check_frozen_vectors(zeros, True, "embedding.npz")
    check_frozen_vectors(zeros, False, "embedding.npz")  # fine-tuned from zeros: it can still learn
    some = zeros.clone()
    some[7, 0] = 0.3
    check_frozen_vectors(some, True, "embedding.npz")


# ---- vocabulary -----------------------------------------------------------------------------------

def test_a_min_freq_that_leaves_no_word_is_refused_and_a_mostly_unk_vocabulary_warned(caplog):
    docs = [["good", "film"], ["bad", "film"], ["film", "plot"]]
    with pytest.raises(DataError, match=r"nlp\.vocab\.min_freq = 1000 leaves no word in the vocabulary "
                                        r"\(the most frequent train word is seen 3 times\)"):
        check_vocabulary(Vocab(min_freq=1000).fit(docs), docs)
    with caplog.at_level(logging.WARNING, logger="stages.nlp.vocab"):
        check_vocabulary(Vocab(min_freq=2).fit(docs), docs)  # only "film": 3 of 6 words known
    assert not caplog.records
    more = docs + [["awful", "acting"]]
    with caplog.at_level(logging.WARNING, logger="stages.nlp.vocab"):
        check_vocabulary(Vocab(min_freq=2).fit(more), more)  # 5 of 8 words are <unk>
    assert "62.5% of the train split's words are <unk>" in caplog.text


# ---- labelled files -------------------------------------------------------------------------------

def test_a_one_class_tsv_is_refused_at_download(tmp_path):
    path = tmp_path / "pos_only.tsv"
    path.write_text("".join(f"review {i} was great\t1\n" for i in range(10)))
    with pytest.raises(DataError, match=r"pos_only\.tsv: only label 1 \(10 reviews\); a sentiment classifier needs both"):
        download.labelled_splits(_params(source="path", path=[str(path)]))
    with pytest.raises(DataError, match=r"the test split: only label 0"):
        require_both_classes([("a", 0)], "nlp.download.source path: the test split")


def test_a_utf8_bom_is_not_part_of_the_first_token(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_bytes(b"\xef\xbb\xbfgreat film\t1\nbad film\t0\n")
    assert read_tsv(path) == [("great film", 1), ("bad film", 0)]
    vec = tmp_path / "bom.vec"
    vec.write_bytes(b"\xef\xbb\xbf1 2\ngreat 1 2\n")
    assert set(vectors.read_vec(vec, {"great"}, 2)) == {"great"}


# ---- the vendored default ---------------------------------------------------------------------------

def test_the_vendored_polarity_data_is_checked_on_load(tmp_path):
    rows = polarity_reviews()
    assert len(rows) == 10_662 and sum(y for _, y in rows) == 5_331
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        shutil.copy(download.DATASETS / name, tmp_path / name)
    with open(tmp_path / "rt-polarity.neg", "ab") as f:
        f.write(b"an extra sentence .\n")
    with pytest.raises(DataError, match=r"rt-polarity\.neg: sha256 [0-9a-f]{64} is not the vendored file's 2d11cfbc"):
        polarity_reviews(tmp_path)
    (tmp_path / "rt-polarity.pos").unlink()
    with pytest.raises(DataError, match=r"rt-polarity\.pos: vendored data file missing"):
        polarity_reviews(tmp_path)


def test_the_default_split_is_fixed_large_and_shares_no_sentence_with_gensims_200():
    train, test, unlabelled = download.labelled_splits(_params())
    assert len(test) >= 1000 and unlabelled == []
    assert len(train) + len(test) < 10_662  # the overlap with gensim's 200 is gone from test
    gensim = {normalise(t) for t, _ in gensim_reviews()[0]}
    assert not {normalise(t) for t, _ in test} & gensim
    assert not {t for t, _ in train} & {t for t, _ in test}
    assert download.labelled_splits(_params()) == (train, test, unlabelled)  # the same split every run


def test_drop_overlap_compares_normalised_text():
    kept, dropped = drop_overlap([("A  film .", 1), ("another", 0)], ["a film ."])
    assert kept == [("another", 0)] and dropped == 1


def test_the_embedded_japanese_text_is_soseki_checked():
    text = download.japanese_text(_params(japanese=JapaneseSourceParams(source="embedded")))
    assert text.startswith("親譲りの無鉄砲で") and "先生" in text and len(text) > 200_000
    assert download.japanese_text(_params()).startswith("昔々")  # story: the smoke setting
