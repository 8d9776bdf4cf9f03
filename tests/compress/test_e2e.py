"""End to end: `dvc repro` of the compress pipeline (every stage) on smoke params; a change of the
evaluation reruns the evaluation only, and an int8 backend this CPU lacks stops the run with one
line naming the param. (A corrupted checkpoint's one line: tests/compress/test_nets.py and
test_quantization.py.)"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from tests.compress.smoke import SMOKE

STAGES = {"compress-data", "compress-teacher", "compress-students", "compress-omitted", "compress-prune",
          "compress-quantize", "compress-evaluate"}


@pytest.mark.e2e
@pytest.mark.slow(105)
def test_dvc_repro_compress_then_an_evaluation_change_reruns_only_the_evaluation(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", "compress-evaluate"))) == STAGES

    art = repo.path / "artifacts/compress"
    summary = json.loads((repo.path / "data/compress/summary.json").read_text())
    per_digit = np.bincount(load_digits().target)  # (10,)
    held = np.array(summary["counts"]["test"])
    assert held.sum() == math.ceil(0.25 * per_digit.sum()) and (abs(held - 0.25 * per_digit) < 1).all()  # stratified
    table = pd.read_csv(art / "evaluate/table.csv").set_index("model")
    sparsities = SMOKE["compress.prune.sparsities"]
    assert list(table.index) == ["teacher", "student", "distilled", "separable",
                                 *(f"sparsity{100 * s:g}" for s in sparsities), "ptq", "qat"]
    assert table.loc["teacher", "accuracy_change"] == 0 and table.loc["teacher", "bytes_ratio"] == 1
    assert table.loc["ptq", "bytes_ratio"] > 3.5  # int8 weights: about 4x smaller whatever the accuracy
    assert table.loc["student", "params"] / table.loc["separable", "params"] > 7
    for s in sparsities:
        row = table.loc[f"sparsity{100 * s:g}"]
        assert row["nonzero_params"] / row["params"] == pytest.approx(1 - s, abs=0.01)  # BN scales are not pruned
    prune = json.loads((art / "prune/metrics.json").read_text())
    assert {round(v, 3) for v in prune["weight_sparsity"].values()} == {round(s, 3) for s in sparsities}

    omitted = pd.read_csv(art / "evaluate/omitted.csv")
    assert set(omitted["model"]) == {"hard", "hard_corrected", "distilled", "distilled_corrected"}
    for variant in ("hard", "distilled"):  # raising one class's bias can only add predictions of it
        before = omitted[omitted["model"] == variant]["on_omitted"].to_numpy()
        after = omitted[omitted["model"] == f"{variant}_corrected"]["on_omitted"].to_numpy()
        assert (after >= before).all()
    metrics = json.loads((art / "evaluate/metrics.json").read_text())
    assert set(metrics["goals"]) == {"omitted_class_recovered", "pruning_90_within_half_point", "int8_ptq",
                                     "qat_recovers_half", "separable"}
    assert all(isinstance(g["met"], bool) for g in metrics["goals"].values())
    assert metrics["teacher_interval"][0] <= metrics["teacher_accuracy"] <= metrics["teacher_interval"][1]
    assert (art / "evaluate/tradeoff.png").stat().st_size > 20_000
    record = json.loads((repo.path / ".reprolab/runs/compress-evaluate.json").read_text())
    assert set(record["latency"]) == {"teacher", "student", "distilled", "separable", "ptq", "qat",
                                      *(f"sparsity{100 * s:g}" for s in sparsities)}
    assert record["latency"]["ptq"]["batch1_us"] > 0
    assert "latency" not in (art / "evaluate/metrics.json").read_text()  # wall clock stays out of tracked outputs

    assert repo.ran_stages(repo.dvc("repro", "compress-evaluate")) == []
    repo.set_param("compress.evaluate.resamples", SMOKE["compress.evaluate.resamples"] + 1)
    assert repo.ran_stages(repo.dvc("repro", "compress-evaluate")) == ["compress-evaluate"]

    repo.set_param("compress.quantize.backend", "tpu-int8")
    proc = repo.dvc("repro", "compress-quantize", check=False)
    assert proc.returncode != 0 and "compress.quantize.backend" in proc.stderr and "'tpu-int8' is not supported" in proc.stderr
    assert "Traceback" not in proc.stderr
