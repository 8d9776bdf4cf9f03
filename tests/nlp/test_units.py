"""Unit tests of the nlp pipeline: tokenisers, readers and their bad input, vocabulary, the model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stages.core.errors import DataError
from stages.nlp.download import gensim_reviews, limit_per_class, stratified_split
from stages.nlp.evaluate import bootstrap_accuracy, cls_attention, id_documents
from stages.core.batches import TensorData
from stages.core.training import TrainingRun
from stages.nlp.nets import Attention, TransformerClassifier, TransformerConfig, positional_encoding
from stages.nlp.text import (JapaneseTokenizer, preprocess_japanese, read_aclimdb_folder, read_tsv, tokenize_english,
                             tokenize_japanese_lines)
from stages.nlp.params import TrainParams
from stages.nlp.train import classifier_parts, cpu_threads
from stages.nlp.token_ids import CLS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab, val_split


# ---- tokenisers ---------------------------------------------------------------------------------

def test_janome_gives_the_expected_surface_forms():
    assert JapaneseTokenizer()("機械学習が好きです。") == ["機械", "学習", "が", "好き", "です", "。"]


def test_japanese_preprocessing_removes_breaks_and_spaces_and_zeroes_digits():
    assert preprocess_japanese("王子は１２歳\r\nの　とき 2024年") == "王子は00歳のとき0000年"
    assert tokenize_japanese_lines("王子は１２歳のとき\n\n姫は本を書きました。") == [
        ["王子", "は", "00", "歳", "の", "とき"], ["姫", "は", "本", "を", "書き", "まし", "た", "。"]]


def test_english_preprocessing_is_the_books():
    text = "I loved it!<br /><br />The plot, however... wasn't \"great\"."
    assert tokenize_english(text) == ["i", "loved", "it", "the", "plot", ",", "however", ".", ".", ".", "wasn", "t", "great", "."]
    assert tokenize_english("Great FILM", lowercase=False) == ["Great", "FILM"]


# ---- readers and bad input ------------------------------------------------------------------------

def test_gensim_reviews_are_gensims_200_sentences():
    rows, unlabelled = gensim_reviews()
    assert len(rows) == 200 and sum(y for _, y in rows) == 100
    assert len(unlabelled) == 300
    assert any("—" in t for t, _ in rows)  # cp1252's em dash decoded, not mangled


def test_split_is_stratified_seeded_and_disjoint():
    rows = [(f"t{i}", i % 2) for i in range(40)]
    train, test = stratified_split(rows, 0.25, seed=0)
    assert len(test) == 10 and sum(y for _, y in test) == 5 and not set(train) & set(test)
    assert stratified_split(rows, 0.25, seed=0) == (train, test)
    assert stratified_split(rows, 0.25, seed=1)[1] != test
    assert len(limit_per_class(rows, 3, seed=0)) == 6


@pytest.mark.parametrize("content, message", [
    (b"good film\t1\nno label here\n", r"reviews\.tsv:2: missing label \(no tab"),
    (b"good film\t1\nbad film\t\n", r"reviews\.tsv:2: missing label"),
    (b"good film\tmaybe\n", r"reviews\.tsv:1: label 'maybe' is not in the label set"),
    (b"good film\t1\n \t0\n", r"reviews\.tsv:2: empty text"),
    (b"good film\t1\ncaf\xe9 au lait\t0\n", r"reviews\.tsv:2: bytes that are not UTF-8 at column 4"),
])
def test_bad_tsv_rows_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "reviews.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_tsv(path)


def test_a_good_tsv_reads_labels_as_0_1(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text("good film\t1\nbad\tfilm\tneg\n\n", encoding="utf-8")
    assert read_tsv(path) == [("good film", 1), ("bad\tfilm", 0)]


def test_aclimdb_folder_without_neg_is_refused(tmp_path):
    (tmp_path / "aclImdb/train/pos").mkdir(parents=True)
    (tmp_path / "aclImdb/train/pos/0_9.txt").write_text("great")
    with pytest.raises(DataError, match=r"aclImdb: train/ has no neg/ folder"):
        read_aclimdb_folder(tmp_path)
    (tmp_path / "aclImdb/train/neg").mkdir()
    (tmp_path / "aclImdb/train/neg/1_2.txt").write_bytes(b"awful \xff")
    with pytest.raises(DataError, match=r"1_2\.txt:1: bytes that are not UTF-8"):
        read_aclimdb_folder(tmp_path)
    (tmp_path / "aclImdb/train/neg/1_2.txt").write_text("awful")
    assert read_aclimdb_folder(tmp_path) == {"train": [("awful", 0), ("great", 1)]}


# ---- vocabulary -----------------------------------------------------------------------------------

def test_vocab_is_fitted_on_train_only_with_the_books_special_ids():
    train = [["a", "b", "a"], ["a", "c"]]
    vocab = Vocab(min_freq=1).fit(train)
    assert vocab.itos_[:4] == ["<unk>", "<pad>", "<cls>", "<eos>"] and (UNK_ID, PAD_ID) == (0, 1)
    assert vocab.itos_[4:] == ["a", "b", "c"]  # most frequent first, ties alphabetical
    assert Vocab(min_freq=2).fit(train).itos_[4:] == ["a"]
    ids = vocab.encode([["a", "zzz"], ["c", "b", "a", "a", "b"]], max_len=5)
    a, b, c = (vocab.stoi[w] for w in "abc")
    assert ids.tolist() == [[CLS_ID, a, UNK_ID, EOS_ID, PAD_ID],  # unseen word -> <unk>, then padding
                            [CLS_ID, c, b, a, EOS_ID]]  # truncated to max_len - 2 words
    with pytest.raises(AssertionError, match="fit"):
        Vocab().encode([["a"]], 5)


def test_val_split_is_seeded_and_disjoint():
    tr, va = val_split(10, 0.2, 1234)
    assert len(va) == 2 and not set(tr) & set(va) and set(tr) | set(va) == set(range(10))
    assert np.array_equal(val_split(10, 0.2, 1234)[1], va)


# ---- model ----------------------------------------------------------------------------------------

def small(**kw) -> TransformerClassifier:
    torch.manual_seed(0)
    return TransformerClassifier(TransformerConfig(vocab=30, d_model=8, max_len=12, blocks=2, ffn=16, dropout=0.0, **kw)).eval()


def test_shapes_logits_and_attention():
    ids = torch.randint(4, 30, (3, 10))
    logits, maps = small()(ids)
    assert logits.shape == (3, 2)
    assert len(maps) == 2 and all(m.shape == (3, 10, 10) for m in maps)
    assert torch.allclose(maps[0].sum(-1), torch.ones(3, 10))


def test_padding_mask_gives_padded_keys_no_weight_and_padding_does_not_change_the_result():
    net = small()
    ids = torch.tensor([[CLS_ID, 5, 6, 7, EOS_ID]])
    padded = torch.cat([ids, torch.full((1, 4), PAD_ID)], dim=1)
    logits, _ = net(ids)
    logits_padded, maps = net(padded)
    assert torch.all(maps[0][:, :, 5:] == 0) and torch.all(maps[1][:, :, 5:] == 0)
    assert torch.allclose(logits, logits_padded, atol=1e-5)


def test_attention_masks_keys():
    attn = Attention(4)
    x = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    _, w = attn(x, mask)
    assert w.shape == (2, 3, 3) and torch.all(w[0, :, 2] == 0) and torch.all(w[1, :, 1:] == 0)


def test_half_precision_runs_and_masks():
    # under CUDA mixed precision the scores are float16, where the mask's -1e9 does not fit
    net = small().half()
    logits, maps = net(torch.tensor([[CLS_ID, 5, 6, EOS_ID, PAD_ID, PAD_ID]]))
    assert logits.dtype == torch.float16 and torch.isfinite(logits).all()
    assert torch.all(maps[0][:, :, 4:] == 0)


def test_embedding_is_frozen_and_positional_encoding_is_the_books():
    net = small()
    assert not net.embed.weight.requires_grad
    pe = positional_encoding(4, 6)
    assert pe[1, 0] == pytest.approx(np.sin(1.0)) and pe[1, 1] == pytest.approx(np.cos(1 / 10000 ** (2 * 1 / 6)))
    assert pe[2, 2] == pytest.approx(np.sin(2 / 10000 ** (2 * 2 / 6)))


def _train_params(**kw) -> TrainParams:
    base = dict(freeze_embedding=True, blocks=1, ffn=16, dropout=0.0, epochs=1, batch_size=4, optimizer="adam", lr=1e-2,
                betas=[0.9, 0.999], precision="fp32", checkpoint_every=1, threads=1)
    return TrainParams(**{**base, **kw})


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_embedding_keeps_or_trains_the_word_vectors(freeze):
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab=30, d_model=8, max_len=12, blocks=1, ffn=16, dropout=0.0)
    vectors = torch.randn(30, 8)
    p = _train_params(freeze_embedding=freeze)
    run = TrainingRun("nlp-train", p, kind="transformer", device="cpu", seed=0)
    ids = torch.randint(4, 30, (8, 12), generator=torch.Generator().manual_seed(1))
    ids[:, 0] = CLS_ID
    data = TensorData(ids, torch.tensor([0, 1] * 4))
    trainer = run.build(**classifier_parts(cfg, vectors, p), data=data)
    trainer.fit(data)
    weight = trainer.models["net"].embed.weight
    assert weight.requires_grad is not freeze
    assert torch.equal(weight.detach(), vectors) is freeze


def test_cpu_threads_sets_torch_and_zero_keeps_its_default():
    before = torch.get_num_threads()
    try:
        assert cpu_threads(1) == 1 == torch.get_num_threads()
        assert cpu_threads(0) == 1  # 0: left as it is
    finally:
        torch.set_num_threads(before)


# ---- evaluation helpers ---------------------------------------------------------------------------

def test_bootstrap_interval_holds_the_accuracy_and_narrows_with_more_reviews():
    small_set = np.array([1, 0] * 25, dtype=bool)
    low, high = bootstrap_accuracy(small_set, 2000, seed=0)
    assert low < 0.5 < high and high - low > 0.2
    low2, high2 = bootstrap_accuracy(np.array([1, 0] * 2500, dtype=bool), 2000, seed=0)
    assert high2 - low2 < (high - low) / 5
    # the same as resampling the reviews themselves
    rng = np.random.default_rng(1)
    resampled = [small_set[rng.integers(0, 50, 50)].mean() for _ in range(4000)]
    assert (low, high) == pytest.approx(tuple(np.quantile(resampled, [0.025, 0.975])), abs=0.03)


def test_id_documents_and_cls_attention():
    ids = np.array([[CLS_ID, 7, 8, EOS_ID, PAD_ID]])
    assert id_documents(ids) == ["7 8"]
    (w,) = cls_attention(["<cls>", "a", "<eos>"], [np.array([0.1, 0.4, 0.2, 0.0, 0.0])])
    assert w.tolist() == pytest.approx([0.25, 1.0, 0.5])
