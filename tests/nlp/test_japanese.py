"""Stage nlp-japanese: Janome tokens, neighbours and analogies reported as they come (a failing
analogy is reported as failing, a word outside the vocabulary as missing)."""
from __future__ import annotations

import numpy as np
from gensim.models import KeyedVectors

from stages.nlp.japanese_vectors import analogies, neighbours, report, summary, tokenize_lines, train_vectors
from stages.nlp.params import JapaneseParams
from stages.nlp.text import JapaneseTokenizer


def _kv() -> KeyedVectors:
    """王 - 男 + 女 = 女王 exactly; 犬 far from all."""
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["王", "男", "女", "女王", "犬"],
                   np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [-1, -1, -1]], dtype=np.float32))
    return kv


def test_an_analogy_that_holds_and_one_that_does_not_and_one_with_a_missing_word():
    out = analogies(_kv(), [["王", "男", "女", "女王"], ["王", "男", "女", "犬"], ["王", "男", "姫", "女王"]], topn=1)
    assert out[0] == {"query": "王 - 男 + 女", "expected": "女王", "top": ["女王"], "rank": 1, "holds": True}
    assert out[1]["holds"] is False and out[1]["rank"] is None
    assert out[2] == {"query": "王 - 男 + 姫", "expected": "女王", "missing": ["姫"], "holds": False}


def test_neighbours_and_a_missing_word():
    out = neighbours(_kv(), ["女王", "猫"], topn=2)
    assert [w for w, _ in out["女王"]["top"]] == ["女", "王"] and out["猫"] == {"missing": True}


def test_tokens_then_vectors_then_report_on_a_few_lines():
    lines = ["王子は森を歩きました。", "", "姫は城の庭を歩きました。", "１２３"] * 5
    docs = tokenize_lines(lines, JapaneseTokenizer())
    assert docs[0] == ["王子", "は", "森", "を", "歩き", "まし", "た", "。"] and ["000"] in docs and [] not in docs
    p = JapaneseParams(dim=8, window=2, min_count=1, epochs=2, skipgram=False, topn=3, neighbours=["王子", "魔女"],
                       analogies=[["王子", "森", "城", "姫"]])
    models = train_vectors(docs, p, seed=0)
    result = report(docs, models, p)
    assert result["lines"] == 15 and result["tokens"] == sum(map(len, docs))
    for name in ("word2vec", "fasttext"):
        assert len(result[name]["neighbours"]["王子"]["top"]) == 3
        assert result[name]["analogies_holding"] in (0, 1)
    assert result["word2vec"]["neighbours"]["魔女"] == {"missing": True}
    numbers = summary(result)
    assert numbers["tokens"] == result["tokens"] and numbers["fasttext"]["analogies"] == 1
    assert numbers["word2vec"]["analogies_holding"] == result["word2vec"]["analogies_holding"]
