"""End to end: `dvc repro` of the sequence pipeline on smoke params; an unchanged rerun runs nothing, a
change of the memory probe reruns it alone, and a bad param stops the run with one line naming it."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from stages.core.checkpoint import load_checkpoint
from tests.sequence.smoke import SMOKE

STAGES = {"sequence-bptt", "sequence-memory", "sequence-dates"}


@pytest.mark.e2e
@pytest.mark.slow(25)
def test_dvc_repro_sequence_then_a_memory_change_reruns_only_the_memory_probe(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", *STAGES))) == STAGES

    art = repo.path / "artifacts/sequence"
    bptt = json.loads((art / "bptt/metrics.json").read_text())
    assert bptt["max_abs_grad_diff"] < 1e-12  # BPTT by hand = autograd, in float64
    check = pd.read_csv(art / "bptt/gradient_check.csv")
    assert list(check["weight"]) == ["W_in", "W", "b", "W_out", "c"] and check["max_abs_diff"].max() == bptt["max_abs_grad_diff"]
    first = bptt["through_time"]["delta_norm_at_first_step"]
    assert first["1"] < 1e-10 < first["16"]  # vanishing below s = 4, exploding above
    tt = pd.read_csv(art / "bptt/through_time.csv")
    assert len(tt) == 5 * SMOKE["sequence.bptt.through_time.steps"] and (tt["clipped_grad_norm"] <= 1.0 + 1e-9).all()
    addition = pd.read_csv(art / "bptt/addition.csv")
    assert addition.groupby("run").size().to_dict() == {"clipped": 300, "plain": 300}
    assert bptt["addition"]["clipped"]["clipped_share"] == pytest.approx(addition.loc[addition["run"] == "clipped", "clipped"].mean())

    memory = json.loads((art / "memory/metrics.json").read_text())
    assert set(memory["test_mse"]) == {"rnn_seed42", "lstm_seed42", "gru_seed42"}
    assert memory["cells"]["gru"]["mean"] == memory["test_mse"]["gru_seed42"]
    assert set(memory["goals"]) == {"gated_cells_learn", "plain_rnn_does_not"}
    assert memory["trivial_mse"] == pytest.approx(1 / 6, abs=0.05)
    curves = pd.read_csv(art / "memory/curves.csv")
    updates = SMOKE["sequence.memory.train_sequences"] // 64
    assert curves.groupby("run").size().to_dict() == {r: updates for r in memory["test_mse"]}
    through = pd.read_csv(art / "memory/through_time.csv")
    assert len(through) == 3 * SMOKE["sequence.memory.steps"] and (through["input_grad_norm"] >= 0).all()
    ckpt = load_checkpoint(art / "memory/model.pt", kind="sequence-memory")
    assert set(ckpt["model_args"]["nets"]) == set(memory["test_mse"])
    assert ckpt["model_args"]["nets"]["lstm_seed42"] == {"cell": "lstm", "inputs": 2, "hidden": 8, "forget_bias": 1.0}
    assert all(isinstance(v, torch.Tensor) for v in ckpt["models"]["gru_seed42"].values())
    dates = json.loads((art / "dates/metrics.json").read_text())
    assert set(dates["exact_match"]) == {"attention_seed42", "plain_seed42"} and set(dates["goals"]) == {
        "attention_learns", "no_attention_does_not"}
    predictions = pd.read_csv(art / "dates/predictions.csv", dtype=str)
    assert len(predictions) == SMOKE["sequence.dates.test_examples"] and set(predictions["format"]) <= set(dates["formats"])
    for model in ("attention", "plain"):
        ok = predictions[f"ok_{model}"] == "True"
        assert ok.mean() == pytest.approx(dates["exact_match"][f"{model}_seed42"])
        assert (predictions.loc[ok, f"pred_{model}"] == predictions.loc[ok, "target"]).all()
    by_length = pd.read_csv(art / "dates/by_length.csv")
    assert by_length.groupby("model")["n"].sum().to_dict() == {"attention": 64, "plain": 64}
    for png in ("bptt/bptt.png", "memory/memory.png", "dates/dates.png"):
        assert (art / png).stat().st_size > 10_000

    assert repo.ran_stages(repo.dvc("repro", *STAGES)) == []
    repo.set_param("sequence.memory.test_sequences", 50)
    assert repo.ran_stages(repo.dvc("repro", *STAGES)) == ["sequence-memory"]

    repo.set_param("sequence.memory.cells", ["lstm", "lstm"])
    proc = repo.dvc("repro", "sequence-memory", check=False)
    assert proc.returncode != 0 and "sequence.memory.cells" in proc.stderr and "Traceback" not in proc.stderr
