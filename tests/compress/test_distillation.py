import math

import numpy as np
import pytest
import torch

from stages.compress.distillation import (distillation_loss, distilled_loss, omit_class, prior_bias_shift,
                                     teacher_logits, with_bias_shift)
from stages.compress.nets import CNNConfig, as_args, build, cnn
from stages.core.side_by_side import Run, side_by_side_parts
from stages.core.recipe import Recipe
from stages.core.training import TrainingRun


def shift_logits(logits, omitted, shift):
    """``logits`` with ``shift`` added to column ``omitted``: what raising that output's bias does."""
    out = logits.clone() if hasattr(logits, "clone") else np.array(logits, dtype=np.float64, copy=True)
    out[:, omitted] += shift
    return out


def test_distillation_loss_equals_the_hand_computed_value():
    T, alpha = 2.0, 0.25
    student = torch.tensor([[0.0, 0.0]])  # softmax at T: (1/2, 1/2)
    teacher = torch.tensor([[2 * math.log(3.0), 0.0]])  # softmax at T: (3/4, 1/4)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    expected = alpha * math.log(2.0) + (1 - alpha) * T**2 * kl
    assert distillation_loss(student, teacher, torch.tensor([0]), T, alpha).item() == pytest.approx(expected, rel=1e-6)


def test_distillation_loss_is_cross_entropy_at_alpha_one_and_zero_soft_term_when_student_matches_teacher():
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 0])
    ce = torch.nn.functional.cross_entropy(z, y)
    assert distillation_loss(z, torch.zeros_like(z), y, 3.0, 1.0).item() == pytest.approx(ce.item())
    assert distillation_loss(z, z.clone(), y, 3.0, 0.0).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("T, alpha, match", [(0.0, 0.5, "temperature"), (2.0, 1.5, "alpha"), (2.0, -0.1, "alpha")])
def test_distillation_loss_refuses_bad_settings(T, alpha, match):
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match=match):
        distillation_loss(z, z, torch.tensor([0]), T, alpha)
    with pytest.raises(ValueError, match="shape"):
        distillation_loss(z, torch.zeros(1, 4), torch.tensor([0]), 2.0, 0.5)


def test_omit_class_drops_exactly_that_class_and_refuses_an_absent_one():
    x, y = np.arange(6)[:, None], np.array([0, 3, 1, 3, 2, 0])
    xs, ys = omit_class(x, y, 3)
    assert ys.tolist() == [0, 1, 2, 0] and xs[:, 0].tolist() == [0, 2, 4, 5]
    with pytest.raises(ValueError, match="class 7"):
        omit_class(x, y, 7)
    with pytest.raises(ValueError, match="labels"):
        omit_class(x[:5], y, 3)


def test_prior_bias_shift_makes_the_class_win_on_its_prior_share_of_rows():
    logits = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 4.0], [5.0, 0.0]])  # margins of class 0: 1, 2, 3, 4, -5
    b = prior_bias_shift(logits, 0, 0.6)  # 3 of 5 rows: the one it wins already, then margins 1 and 2
    assert 2 < b < 2.01
    assert (shift_logits(logits, 0, b).argmax(1) == 0).sum() == 3
    assert prior_bias_shift(logits, 0, 0.1) == 0.0  # it already wins on 1/5 ≥ 10%: never lowered
    with pytest.raises(ValueError, match="prior"):
        prior_bias_shift(logits, 0, 1.0)
    with pytest.raises(ValueError, match="class 2"):
        prior_bias_shift(logits, 2, 0.5)


def test_with_bias_shift_raises_one_logit_and_leaves_the_net_alone():
    net = cnn(CNNConfig((2, 2, 2), classes=3)).eval()
    x = torch.rand(4, 1, 8, 8)
    shifted = with_bias_shift(net, 1, 2.5)
    diff = shifted(x) - net(x)
    assert torch.allclose(diff, torch.tensor([0.0, 2.5, 0.0]).expand(4, 3), atol=1e-6)
    assert torch.equal(shift_logits(net(x), 1, 2.5), net(x) + torch.tensor([0.0, 2.5, 0.0]))


def test_a_tiny_distillation_run_trains_the_student_toward_the_teacher():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    teacher = cnn(CNNConfig((4, 4, 4), classes=3))
    v = teacher_logits(teacher, x)
    args = as_args(CNNConfig((2, 4, 4), classes=3))
    loss = distilled_loss(4.0, 0.0)
    runs = {"distilled_seed0": Run(net=lambda: build(args), loss=loss, seed=0, data=(x, y, v), args=args)}
    run = TrainingRun("compress-distill", Recipe(epochs=3, batch_size=8, optimizer="adam", lr=1e-2), kind="compress-cnn",
                      device="cpu", seed=0)
    parts = side_by_side_parts(runs, 8)
    trainer = run.build(**parts)
    student = trainer.models["distilled_seed0"]
    before = loss(student, (x, y, v)).item()
    trainer.fit(parts["data"])
    assert loss(student, (x, y, v)).item() < before
    with pytest.raises(ValueError, match="temperature"):
        distilled_loss(-1.0, 0.5)
