import numpy as np
import pytest
import torch

from stages.sequence.adding import (TRIVIAL_MSE, adding_problem, held_out_mse, input_gradient_norms, mse_loss, net_args,
                                    recurrent_net)


def test_two_markers_one_in_each_half_and_the_target_is_their_sum():
    x, y = adding_problem(np.random.default_rng(0), 500, 10)
    assert x.shape == (500, 10, 2) and y.shape == (500,) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2) and np.all(markers[:, :5].sum(axis=1) == 1)
    np.testing.assert_allclose((x[:, :, 0] * markers).sum(axis=1), y, rtol=1e-6)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(TRIVIAL_MSE, abs=0.03)  # the trivial answer's score
    again, _ = adding_problem(np.random.default_rng(0), 500, 10)
    assert np.array_equal(x, again)  # generated from the seed alone
    with pytest.raises(ValueError, match="at least 2 steps"):
        adding_problem(np.random.default_rng(0), 5, 1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_cell_reads_out_one_number_per_sequence(cell):
    torch.manual_seed(0)
    net = recurrent_net(net_args(cell, 6, 1.0))
    x, y = (torch.from_numpy(a) for a in adding_problem(np.random.default_rng(0), 4, 7))
    assert net(x).shape == (4,)
    assert float(mse_loss(net, (x, y)).detach()) == pytest.approx(held_out_mse(net, x, y), rel=1e-5)
    norms = input_gradient_norms(net, x, y)
    assert norms.shape == (7,) and np.all(norms >= 0)


def test_the_lstm_forget_gate_starts_at_its_bias():
    net = recurrent_net(net_args("lstm", 4, 2.5))
    assert torch.equal(net.rnn.bias_ih_l0[4:8], torch.full((4,), 2.5)) and torch.equal(net.rnn.bias_hh_l0[4:8], torch.zeros(4))
    with pytest.raises(ValueError, match="cell must be one of"):
        net_args("transformer", 4, 1.0)


def test_a_late_input_moves_an_untrained_rnn_more_than_an_early_one():
    torch.manual_seed(0)
    net = recurrent_net(net_args("rnn", 16, 1.0))
    x, y = (torch.from_numpy(a) for a in adding_problem(np.random.default_rng(1), 64, 40))
    norms = input_gradient_norms(net, x, y)
    assert norms[-1] > 100 * norms[0]  # the error signal fades with every step back
