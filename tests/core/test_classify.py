"""The shared classification pieces (stages.core.classify): each gives what its pipelines computed
before, to the bit, on tiny in-memory data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stages.core.classify import (Classification, bootstrap_accuracy, confusion_figure, confusion_matrix, predict)


def _net(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(12, 3))


def _batch(n: int = 10):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_loss_is_the_cross_entropy_of_the_prepared_inputs():
    net, (x, y) = _net(), _batch()
    obj = Classification(net, step="sgd", prepare=lambda b: b * 2, label_smoothing=0.1)
    assert [name for name, _ in obj.steps()] == ["sgd"]
    assert torch.equal(obj.loss((x, y)), F.cross_entropy(net(x * 2), y, label_smoothing=0.1))
    # validation reports the plain cross-entropy (no smoothing) and the accuracy
    val = obj.validate((x, y))
    logits = net(x * 2)
    assert torch.equal(val["val_loss"], F.cross_entropy(logits, y))
    assert torch.equal(val["val_accuracy"], (logits.argmax(1) == y).float().mean())


def test_logits_of_picks_the_logits_from_a_tuple_output():
    inner, (x, y) = _net(), _batch()

    class WithMaps(nn.Module):  # as nlp's classifier: (logits, attention maps)
        def forward(self, ids):
            return inner(ids), [ids]

    obj = Classification(WithMaps(), logits_of=lambda out: out[0])
    assert torch.equal(obj.loss((x, y)), F.cross_entropy(inner(x), y))
    with pytest.raises(Exception):  # without it the tuple is no tensor
        Classification(WithMaps()).loss((x, y))


def test_predict_matches_one_pass_in_eval_mode():
    net, (x, _) = _net(dropout=0.5), _batch(7)
    logits = predict(net, x, torch.device("cpu"), batch_size=3)
    assert not net.training  # dropout off: deterministic
    with torch.no_grad():
        whole = net(x)
    assert torch.allclose(logits, whole) and logits.dtype == torch.float32
    # vit's former predict (prepare, then net, then float) and transfer's (softmax of each batch), to the bit
    pre = lambda b: b - 1  # noqa: E731
    with torch.no_grad():
        vit_old = torch.cat([net(pre(x[i:i + 3])).float().cpu() for i in range(0, len(x), 3)])
        transfer_old = torch.cat([F.softmax(net(x[i:i + 3]), 1).cpu() for i in range(0, len(x), 3)])
    assert torch.equal(predict(net, x, "cpu", batch_size=3, prepare=pre), vit_old)
    probs = predict(net, x, "cpu", batch_size=3, probabilities=True)
    assert torch.equal(probs, transfer_old) and torch.allclose(probs.sum(1), torch.ones(7))


def test_bootstrap_draws_give_the_former_intervals():
    correct = np.random.default_rng(3).random(200) < 0.8
    # nlp's former interval (Binomial counts), to the bit
    n = len(correct)
    acc = np.random.default_rng(42).binomial(n, correct.mean(), size=500) / n
    assert bootstrap_accuracy(correct, 500, 42) == (float(np.quantile(acc, 0.025000000000000022)), float(np.quantile(acc, 0.975)))
    # vit's former interval (an (R, N) index table), as vit rounds it: 6 digits
    idx = np.random.default_rng(42).integers(0, n, size=(500, n))
    means = correct[idx].mean(axis=1)
    old = float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))
    new = bootstrap_accuracy(correct, 500, 42, draw="indices")
    assert [round(v, 6) for v in new] == [round(v, 6) for v in old]
    low, high = new
    assert low <= correct.mean() <= high
    wider = bootstrap_accuracy(correct, 500, 42, level=0.99)
    assert wider[0] <= bootstrap_accuracy(correct, 500, 42)[0] and wider[1] >= bootstrap_accuracy(correct, 500, 42)[1]


def test_confusion_matrix_rows_are_true_classes():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]] and m.dtype == np.int64
    assert confusion_matrix(np.array([], dtype=int), np.array([], dtype=int), 2).sum() == 0


def test_confusion_matrix_refuses_an_unknown_class():
    with pytest.raises(ValueError, match="outside 0..1"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="2 labels but 3 predictions"):
        confusion_matrix(np.array([0, 1]), np.array([0, 1, 1]), 2)


def test_confusion_figure_has_one_panel_per_model():
    m = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    fig = confusion_figure({"a": m, "b": m}, ["no", "yes"])
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["a", "b"]
    assert [t.get_text() for t in panels[0].texts] == ["1", "1", "1"]  # zero cells unlabelled
