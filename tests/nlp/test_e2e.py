"""End to end: `dvc repro` of the nlp pipeline on the embedded data with smoke params, then a change
of nlp.train.* reruns only train and evaluate."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stages.nlp.evaluate import bootstrap_accuracy
from tests.nlp.smoke import SMOKE

STAGES = {"nlp-download", "nlp-tokenize", "nlp-vocab", "nlp-vectors", "nlp-japanese", "nlp-train", "nlp-evaluate"}


@pytest.mark.e2e
@pytest.mark.slow(85)
def test_dvc_repro_nlp_then_a_train_param_reruns_only_train_and_evaluate(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")

    first = repo.dvc("repro", "nlp-evaluate", "nlp-japanese")
    assert set(repo.ran_stages(first)) == STAGES

    art = repo.path / "artifacts/nlp"
    vocab = json.loads((art / "vocab/vocab.json").read_text())
    assert vocab["itos"][:4] == ["<unk>", "<pad>", "<cls>", "<eos>"]
    with np.load(art / "vocab/ids.npz") as z:
        assert z["train_ids"].shape[1] == SMOKE["nlp.vocab.max_len"] and (z["train_ids"][:, 0] == 2).all()
        test_y = z["test_y"]
    with np.load(art / "vectors/embedding.npz") as z:
        assert z["vectors"].shape == (len(vocab["itos"]), SMOKE["nlp.vectors.dim"])
    japanese = json.loads((art / "japanese/report.json").read_text(encoding="utf-8"))
    for model in ("word2vec", "fasttext"):  # 王子 - 男性 + 女性 ≈ 姫: every word is in the story, so a top list
        (analogy,) = japanese[model]["analogies"]
        assert len(analogy["top"]) == SMOKE.get("nlp.japanese.topn", 10) and isinstance(analogy["holds"], bool)
        assert set(japanese[model]["neighbours"]) == {"王子", "姫"}
    numbers = json.loads((art / "japanese/metrics.json").read_text())
    assert numbers["word2vec"]["analogies"] == 1 and numbers["tokens"] == japanese["tokens"]

    metrics = json.loads((art / "evaluate/metrics.json").read_text())
    assert metrics["n_test"] == len(test_y) == 50
    predictions = np.genfromtxt(art / "evaluate/predictions.csv", delimiter=",", names=True)
    for name, column in (("transformer", "predicted"), ("tfidf_logreg", "baseline")):
        m = metrics[name]
        correct = predictions[column] == predictions["label"]
        assert m["accuracy"] == pytest.approx(correct.mean())
        assert (m["accuracy_low"], m["accuracy_high"]) == pytest.approx(
            bootstrap_accuracy(correct, SMOKE["nlp.evaluate.resamples"], 42))
        assert np.sum(m["confusion"]) == len(test_y)
    page = (art / "evaluate/attention.html").read_text(encoding="utf-8")
    assert page.count("<b>block ") == 2 * page.count("<h2>") >= 2 and "rgba(255,0,0,1.000)" in page
    assert (art / "evaluate/attention.png").stat().st_size > 0
    assert json.loads((repo.path / ".reprolab/runs/nlp-train.json").read_text())["reviews_per_s"] > 0

    assert repo.ran_stages(repo.dvc("repro", "nlp-evaluate")) == []
    repo.set_param("nlp.train.epochs", SMOKE["nlp.train.epochs"] + 1)
    again = repo.dvc("repro", "nlp-evaluate")
    assert set(repo.ran_stages(again)) == {"nlp-train", "nlp-evaluate"}
    assert json.loads((art / "train/metrics.json").read_text())["epochs"] == SMOKE["nlp.train.epochs"] + 1
