"""End to end: `dvc repro` of the sequence pipeline's translation half on smoke params (the vendored
pairs → tokens and vocabularies → word2vec, the three translators → BLEU); a change of the beam reruns
the evaluation alone, and a source whose files disagree stops the data stage with one line naming
them, nothing half-written left and the last good outputs still in DVC's cache."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from stages.core.checkpoint import load_checkpoint
from tests.sequence.smoke import SMOKE

STAGES = ("sequence-pairs", "sequence-word2vec", "sequence-translate", "sequence-evaluate")


@pytest.mark.e2e
@pytest.mark.slow(40)
def test_dvc_repro_translation_then_a_beam_change_reruns_only_the_evaluation(temp_repo, tmp_path):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", *STAGES))) == set(STAGES)

    art = repo.path / "artifacts/sequence"
    folder = art / "pairs/pairs"
    assert len((folder / "train.ja").read_text(encoding="utf-8").splitlines()) == SMOKE["sequence.pairs.max_train_pairs"]
    assert len((folder / "test.en").read_text(encoding="utf-8").splitlines()) == 500
    vocab_en = (folder / "vocab.en.txt").read_text(encoding="utf-8").splitlines()
    assert vocab_en[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and len(set(vocab_en)) == len(vocab_en)
    stats = json.loads((art / "pairs/metrics.json").read_text())
    assert stats["vocab"]["en"] == len(vocab_en) and stats["splits"]["train"]["pairs"] == SMOKE["sequence.pairs.max_train_pairs"]
    assert 0 < stats["splits"]["test"]["ja"]["unknown_rate"] < 0.5

    w2v = json.loads((art / "word2vec/metrics.json").read_text())
    assert -1 <= w2v["spearman_random_pairs"] <= 1 and w2v["sentences"] == SMOKE["sequence.pairs.max_train_pairs"]
    table = pd.read_csv(art / "word2vec/neighbours.csv")
    assert set(table["model"]) == {"pytorch", "gensim"} and set(table["query"]) == set(w2v["queries_known"])

    translate = json.loads((art / "translate/metrics.json").read_text())
    runs = {"plain_seed42", "attention_seed42", "transformer_seed42"}
    assert set(translate["dev_loss"]) == runs and translate["direction"] == "ja-en"
    ckpt = load_checkpoint(art / "translate/model.pt", kind="sequence-translate")
    assert set(ckpt["model_args"]["nets"]) == runs and ckpt["model_args"]["nets"]["transformer_seed42"]["d_model"] == 8

    evaluation = json.loads((art / "evaluate/metrics.json").read_text())
    assert set(evaluation["runs"]["bleu_beam"]) == runs and set(evaluation["models"]) == {"plain", "attention", "transformer"}
    assert all(0 <= v <= 100 for v in evaluation["runs"]["bleu_greedy"].values())
    assert set(evaluation["goals"]) == {"attention_beats_plain"} and evaluation["beam"] == SMOKE["sequence.evaluate.beam"]
    translations = pd.read_csv(art / "evaluate/translations.csv", keep_default_na=False)
    assert len(translations) == 500
    exact = (translations["beam_attention"] == translations["reference"]).mean()
    assert exact == pytest.approx(evaluation["runs"]["exact_beam"]["attention_seed42"], abs=1e-4)
    by_length = pd.read_csv(art / "evaluate/by_length.csv")
    assert by_length.groupby("model")["sentences"].sum().to_dict() == {"attention": 500, "plain": 500, "transformer": 500}
    for png in ("pairs/lengths.png", "word2vec/word2vec.png", "translate/translate.png", "evaluate/evaluate.png"):
        assert (art / png).stat().st_size > 10_000

    assert repo.ran_stages(repo.dvc("repro", *STAGES)) == []
    repo.set_param("sequence.evaluate.beam", 3)
    assert repo.ran_stages(repo.dvc("repro", *STAGES)) == ["sequence-evaluate"]

    bad = tmp_path / "pairs"
    bad.mkdir()
    for name in ("train", "dev", "test"):
        (bad / f"{name}.en").write_text("a cat .\nthe dog .\n")
        (bad / f"{name}.ja").write_text("猫 。\n犬 。\n", encoding="utf-8")
    (bad / "dev.ja").write_text("猫 。\n", encoding="utf-8")
    before = (folder / "train.ja").read_bytes()
    repo.set_param("sequence.pairs.source", "path")
    repo.set_param("sequence.pairs.path", [str(bad)])
    proc = repo.dvc("repro", "sequence-pairs", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"{bad}/dev.en has 2 lines but {bad}/dev.ja has 1" in proc.stderr
    assert sorted(p.name for p in (art / "pairs").iterdir()) == []  # DVC cleared the outputs; nothing half-written took their place
    repo.dvc("checkout", "sequence-pairs")  # and nothing is lost: DVC's cache gives the last good ones back
    assert (folder / "train.ja").read_bytes() == before
