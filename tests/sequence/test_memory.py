import pytest

from stages.core.side_by_side import variant_of
from stages.sequence.memory import GATED_GOAL, RNN_FLOOR, curves_frame, summary


def test_variant_of_a_run_name():
    assert variant_of("lstm_seed43") == "lstm" and variant_of("rnn_seed0") == "rnn"


def test_goals_judge_every_seed():
    mse = {"rnn_seed0": 0.16, "rnn_seed1": 0.15, "lstm_seed0": 0.004, "lstm_seed1": 0.01, "gru_seed0": 0.001, "gru_seed1": 0.002}
    result = summary(mse, ["rnn", "lstm", "gru"])
    assert result["cells"]["lstm"] == {"mean": pytest.approx(0.007), "min": 0.004, "max": 0.01, "seeds": 2}
    assert result["goals"]["gated_cells_learn"]["met"] and result["goals"]["plain_rnn_does_not"]["met"]
    one_bad = {**mse, "lstm_seed1": GATED_GOAL + 0.001}
    assert not summary(one_bad, ["rnn", "lstm", "gru"])["goals"]["gated_cells_learn"]["met"]
    rnn_learns = {**mse, "rnn_seed1": RNN_FLOOR - 0.01}
    assert summary(rnn_learns, ["rnn", "lstm", "gru"])["goals"]["plain_rnn_does_not"] == {
        "value": RNN_FLOOR - 0.01, "goal": f"every plain RNN run above {RNN_FLOOR} test MSE", "met": False}
    assert summary({"gru_seed0": 0.001}, ["gru"])["goals"].keys() == {"gated_cells_learn"}


def test_curves_have_one_row_per_update_and_run():
    frame = curves_frame({"rnn_seed0": [(0.2, 1.0), (0.1, 0.5)], "gru_seed0": [(0.3, 2.0), (0.05, 0.1)]})
    assert frame.shape[0] == 4 and frame.loc[3].to_dict() == {"run": "gru_seed0", "cell": "gru", "update": 2, "loss": 0.05,
                                                              "grad_norm": 0.1}
