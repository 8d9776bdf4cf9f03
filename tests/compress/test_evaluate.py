import pandas as pd
import pytest

from stages.compress.evaluate import accuracy, goals, pareto_front, seed_rows, with_ratios
from stages.core.side_by_side import variant_of


def _run(acc, params=100, nonzero=100, nbytes=400, weight_bytes=400):
    return {"accuracy": acc, "params": params, "nonzero_params": nonzero, "bytes": nbytes, "weight_bytes": weight_bytes}


def test_accuracy_counts_argmax_hits_in_percent():
    logits = [[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    assert accuracy(logits, [1, 0, 0, 0]) == 75.0
    assert accuracy(logits, [1, 0, 0, 0], mask=[False, False, True, True]) == 50.0


def test_seed_rows_average_a_variants_seeds_and_ratios_are_to_the_teacher():
    assert variant_of("student_seed43") == "student" and variant_of("ptq") == "ptq"
    runs = {"teacher": _run(99.0, 400, 400, 1600, 1600), "student_seed0": _run(98.0), "student_seed1": _run(97.0),
            "ptq": _run(98.5, 400, 400, 410, 400)}
    table = with_ratios(seed_rows(runs)).set_index("model")
    assert table.loc["student", "seeds"] == 2 and table.loc["student", "accuracy"] == 97.5
    assert (table.loc["student", "accuracy_min"], table.loc["student", "accuracy_max"]) == (97.0, 98.0)
    assert table.loc["student", "params_ratio"] == 4.0 and table.loc["student", "accuracy_change"] == -1.5
    assert table.loc["ptq", "bytes_ratio"] == pytest.approx(1600 / 410, abs=1e-3) and table.loc["ptq", "weight_bytes_ratio"] == 4.0


def test_pareto_front_keeps_only_the_unbeaten_points():
    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (4.0, 99.0), (2.0, 95.0)]
    assert pareto_front(points) == [0, 1, 4, 3]  # by size; equal points both stay
    assert 2 not in pareto_front(points)  # (3, 94) is bigger and worse than (2, 95)


def _tables(distilled_on_3, separable_acc, after90, ptq, qat):
    rows = [{"model": "teacher", "accuracy": 99.0, "params": 300, "nonzero_params": 300, "bytes": 1200, "weight_bytes": 1200,
             "accuracy_min": 99.0, "accuracy_max": 99.0, "seeds": 1},
            {"model": "student", "accuracy": 98.8, "params": 80, "nonzero_params": 80, "bytes": 320, "weight_bytes": 320,
             "accuracy_min": 98.8, "accuracy_max": 98.8, "seeds": 3},
            {"model": "separable", "accuracy": separable_acc, "params": 10, "nonzero_params": 10, "bytes": 40,
             "weight_bytes": 40, "accuracy_min": separable_acc, "accuracy_max": separable_acc, "seeds": 3},
            {"model": "ptq", "accuracy": ptq, "params": 300, "nonzero_params": 300, "bytes": 320, "weight_bytes": 300,
             "accuracy_min": ptq, "accuracy_max": ptq, "seeds": 1},
            {"model": "qat", "accuracy": qat, "params": 300, "nonzero_params": 300, "bytes": 320, "weight_bytes": 300,
             "accuracy_min": qat, "accuracy_max": qat, "seeds": 3}]
    omitted = pd.DataFrame([{"model": "distilled_corrected", "seed": s, "on_omitted": v} for s, v in enumerate(distilled_on_3)]
                           + [{"model": "hard", "seed": s, "on_omitted": 0.0} for s in range(3)])
    sparsity = pd.DataFrame([{"sparsity": 0.9, "seed": s, "before": 10.0, "after": after90} for s in range(3)])
    return with_ratios(rows), omitted, sparsity


def test_goals_are_met_on_good_numbers_and_each_fails_on_its_own_bad_one():
    good = goals(*_tables([100.0, 95.0, 91.0], 98.5, 98.6, 98.4, 98.8))
    assert {name: g["met"] for name, g in good.items()} == {
        "omitted_class_recovered": True, "pruning_90_within_half_point": True, "int8_ptq": True,
        "qat_recovers_half": True, "separable": True}
    bad = goals(*_tables([100.0, 89.9, 100.0], 98.2, 98.4, 97.9, 98.3))
    assert {name: g["met"] for name, g in bad.items()} == {
        "omitted_class_recovered": False, "pruning_90_within_half_point": False, "int8_ptq": False,
        "qat_recovers_half": False, "separable": False}
    assert bad["int8_ptq"]["drop"] == pytest.approx(1.1) and bad["qat_recovers_half"]["needed"] == pytest.approx(98.45)
