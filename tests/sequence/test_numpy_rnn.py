import numpy as np
import pytest

from stages.sequence.numpy_rnn import (NumpyRNN, all_bits, autograd_gradients, binary_addition_batch, bptt, deltas_from_last,
                                       every_pair, exact_match, forward, gradient_clipping, loss, train_addition)


def _net(seed=0, hidden=5):
    return NumpyRNN.init(2, hidden, 1, np.random.default_rng(seed))


def test_bptt_matches_autograd_to_float64_precision():
    rng = np.random.default_rng(1)
    net = _net()
    x, d = rng.standard_normal((3, 7, 2)), rng.random((3, 7, 1))
    ours, _ = bptt(net, forward(net, x), d)
    theirs = autograd_gradients(net, x, d)
    for name in ("W_in", "W", "b", "W_out", "c"):
        assert ours[name].shape == getattr(net, name).shape
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-10, atol=1e-14)


def test_bptt_matches_a_finite_difference():
    rng = np.random.default_rng(2)
    net = _net()
    x, d = rng.standard_normal((2, 4, 2)), rng.random((2, 4, 1))
    grads, _ = bptt(net, forward(net, x), d)
    eps = 1e-6
    net.W[1, 2] += eps
    up = loss(forward(net, x), d)
    net.W[1, 2] -= 2 * eps
    down = loss(forward(net, x), d)
    assert grads["W"][1, 2] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_singular_values_set_the_decay_of_the_error_signal():
    rng = np.random.default_rng(3)
    base = _net(hidden=8)
    x = np.zeros((1, 40, 2))  # no input: the state settles at the fixed point z = 0.5, where sigmoid' = 1/4
    for s in (2.0, 8.0):
        net = base.with_singular_values(s, rng)
        np.testing.assert_allclose(np.linalg.svd(net.W, compute_uv=False), s)
        np.testing.assert_allclose(net.b, -0.5 * net.W.sum(axis=0))  # u = 0 at z = 0.5
    net = base.with_singular_values(2.0, rng)  # a stable fixed point: gain s/4 = 1/2 per step
    norms = np.linalg.norm(deltas_from_last(net, forward(net, x))[0], axis=1)
    np.testing.assert_allclose(norms[-10:-1] / norms[-9:], 0.5, rtol=1e-6)  # one step back: x s/4


def test_gradient_clipping_rescales_only_above_the_threshold():
    g = np.array([3.0, 4.0])
    np.testing.assert_allclose(gradient_clipping(g, 1.0), [0.6, 0.8])
    assert gradient_clipping(g, 10.0) is g
    assert gradient_clipping(np.zeros(2), 1.0).tolist() == [0.0, 0.0]


def test_binary_numbers_are_least_significant_bit_first_and_sums_are_right():
    assert all_bits(np.array([[6]]), 4)[0, :, 0].tolist() == [0, 1, 1, 0]
    x, d = binary_addition_batch(np.random.default_rng(0), 50, 8)
    weights = 2 ** np.arange(8)
    a, b, total = (x[:, :, 0] @ weights), (x[:, :, 1] @ weights), (d[:, :, 0] @ weights)
    assert np.all(a < 128) and np.all(b < 128) and np.array_equal(a + b, total)
    x, d = every_pair(4)
    assert x.shape == (64, 4, 2) and d.shape == (64, 4, 1)


def test_the_notes_training_loop_learns_addition_and_clipping_fires():
    run = train_addition(np.random.default_rng(0), bits=4, hidden=8, updates=3000, batch=8, lr=0.5, weight_init_std=1.0, clip=0.05)
    assert run.losses[-300:].mean() < 0.5 * run.losses[:300].mean()
    assert 0 < run.clipped.mean() <= 1
    x, d = every_pair(4)
    assert exact_match(run.net, x, d) > 0.5
