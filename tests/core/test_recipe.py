"""The one training recipe (stages/core/recipe.py) and the one training stage's in-process side
(stages/core/training.py: TrainingRun.build/fit), including the escape hatch for loops that are not
one update per batch (ManualObjective): n critic steps, an optimised input with no dataset."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stages.core.batches import Iterations, TensorData
from stages.core.recipe import Recipe, lr_factor, steps_per_epoch
from stages.core.trainer import ManualObjective
from stages.core.training import TrainingRun


def recipe(**over) -> Recipe:
    return Recipe(**{"epochs": 2, "batch_size": 4, "optimizer": "adam", "lr": 0.01, **over})


def test_one_recipe_builds_each_optimizer_with_its_settings():
    net = nn.Linear(3, 1)
    adam = recipe(betas=[0.5, 0.9]).optimizer_for(net.parameters())
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["betas"] == (0.5, 0.9) and adam.defaults["lr"] == 0.01
    adamw = recipe(optimizer="adamw", weight_decay=0.05).optimizer_for(net.parameters())
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 0.05
    sgd = recipe(optimizer="sgd", momentum=0.9, lr={"a": 0.1, "b": 0.2}).optimizer_for(
        [{"params": [net.weight], "lr": 0.1}, {"params": [net.bias], "lr": 0.2}])
    assert isinstance(sgd, torch.optim.SGD) and [g["lr"] for g in sgd.param_groups] == [0.1, 0.2]
    assert sgd.defaults["momentum"] == 0.9


def test_lr_per_network_and_its_errors():
    r = recipe(lr={"g": 1e-4, "d": 4e-4})
    assert r.lr_of("g") == 1e-4 and r.lr_of("d") == 4e-4
    with pytest.raises(Exception, match="lr has no entry 'e'"):
        r.lr_of("e")
    assert recipe().lr_of("anything") == 0.01


def test_schedules_match_the_formulas_they_replaced():
    # vit's warm-up + cosine and diffusion's min(1, (step + 1) / warmup), factor for factor
    warm, total = 5, 40
    cosine = lr_factor("cosine", warm, total)
    for step in range(total + 3):
        old = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))
        assert cosine(step) == old
    constant = lr_factor("constant", 100, 1000)
    assert [constant(s) for s in (0, 50, 99, 100, 5000)] == [min(1.0, (s + 1) / 100) for s in (0, 50, 99, 100, 5000)]
    net = nn.Linear(2, 1)
    assert recipe().scheduler_for(recipe().optimizer_for(net.parameters()), 10) is None  # constant, no warm-up
    sched = recipe(warmup_epochs=0.5).scheduler_for(recipe().optimizer_for(net.parameters()), 10)
    assert sched is not None and sched.get_last_lr()[0] == pytest.approx(0.01 / 5)


def test_steps_per_epoch_is_the_loaders():
    assert steps_per_epoch(100, 32) == 3 and steps_per_epoch(10, 64) == 1 and steps_per_epoch(100, 10, world_size=2) == 5
    assert steps_per_epoch(100, 10, accumulate=3) == 3


@pytest.mark.parametrize("bad, message", [({"warmup_steps": 3, "warmup_epochs": 1.0}, "not both"),
                                          ({"warmup_epochs": 5.0}, "exceeds epochs"),
                                          ({"precision": "fp8"}, "'fp32', 'fp16' or 'bf16'"),
                                          ({"amp": True}, "'amp' was replaced by 'precision"),
                                          ({"lr": 0.0}, "greater than 0")])
def test_recipe_refuses(bad, message):
    with pytest.raises(ValueError, match=message):
        recipe(**bad)


class WganStyle:
    """Several critic updates per generator update, logged its own way: a ManualObjective."""

    updates = ("critic", "gen")

    def __init__(self, nets, n_critic: int = 3) -> None:
        self.nets, self.n_critic = nets, n_critic

    def iteration(self, batch, step) -> None:
        for _ in range(self.n_critic):
            with step.autocast():
                fake = self.nets["gen"](torch.randn(len(batch), 2))
                loss = self.nets["critic"](fake.detach()).mean() - self.nets["critic"](batch).mean()
            step.update("critic", loss)
        with step.autocast():
            loss = -self.nets["critic"](self.nets["gen"](torch.randn(len(batch), 2))).mean()
        step.update("gen", loss)
        step.log("critic_steps", self.n_critic)


def test_manual_objective_gets_the_loop_history_and_resume(tmp_path):
    data = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    r = recipe(epochs=3, lr={"critic": 1e-3, "gen": 1e-3})

    def train(epochs: int, resume):
        run = TrainingRun("wgan", r.model_copy(update={"epochs": epochs}), kind="wgan", device="cpu", seed=0)
        trainer = run.build(models=lambda: {"critic": nn.Linear(2, 1), "gen": nn.Linear(2, 2)}, objective=WganStyle,
                            model_args={}, data=data, key="k", resume=resume)
        trainer.fit(data)
        return trainer

    whole = train(3, None)
    assert isinstance(whole.objective, ManualObjective)
    assert list(whole.history[0])[:4] == ["epoch", "loss_critic", "loss_gen", "critic_steps"]
    assert all(row["critic_steps"] == 3 for row in whole.history)
    train(2, tmp_path / "last.pt")  # as if killed after epoch 2
    resumed = train(3, tmp_path / "last.pt")
    assert resumed.resumed_from == 2
    for name in ("critic", "gen"):
        for a, b in zip(whole.models[name].state_dict().values(), resumed.models[name].state_dict().values()):
            assert torch.equal(a, b)


class OptimiseAnInput:
    """Style transfer's shape: no dataset, the optimised tensor is the "network"; its own RNG state
    (as an environment's would be) is saved in the checkpoint and restored on resume."""

    updates = ("image",)

    def __init__(self, nets) -> None:
        self.nets, self.draws = nets, torch.Generator().manual_seed(7)

    def iteration(self, index, step) -> None:
        target = torch.rand(4, generator=self.draws)
        step.update("image", ((self.nets["image"].weight.sum(0) - target) ** 2).mean())

    def state_dict(self) -> dict:
        return {"draws": self.draws.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.draws.set_state(state["draws"])


def test_iterations_drive_a_loop_with_no_dataset_and_its_state_resumes(tmp_path):
    r = recipe(epochs=4, optimizer="sgd", lr=0.5, batch_size=1)

    def train(epochs: int, resume):
        run = TrainingRun("style", r.model_copy(update={"epochs": epochs}), kind="style", device="cpu", seed=0)
        trainer = run.build(models=lambda: {"image": nn.Linear(4, 1, bias=False)}, objective=OptimiseAnInput,
                            model_args={}, data=Iterations(5), key="k", resume=resume)
        trainer.fit(Iterations(5))
        return trainer

    whole = train(4, None)
    assert [r["epoch"] for r in whole.history] == [1, 2, 3, 4] and whole.history[-1]["loss_image"] < whole.history[0]["loss_image"]
    assert "objective" in whole.checkpoint()
    train(2, tmp_path / "last.pt")
    resumed = train(4, tmp_path / "last.pt")
    assert resumed.resumed_from == 2
    assert torch.equal(resumed.models["image"].weight, whole.models["image"].weight)  # the RNG state came back too


def test_a_manual_objective_refuses_gradient_accumulation():
    run = TrainingRun("x", recipe(accumulate=2), kind="x", device="cpu", seed=0)
    with pytest.raises(AssertionError, match="accumulate must be 1"):
        run.build(models=lambda: {"image": nn.Linear(4, 1)}, objective=OptimiseAnInput, model_args={}, data=Iterations(2))


def test_training_run_builds_one_optimizer_per_network_named_in_lr_and_the_schedule():
    data = TensorData(torch.randn(20, 3), torch.randn(20, 1))
    run = TrainingRun("reg", recipe(lr={"a": 0.1}, lr_schedule="cosine", epochs=2, batch_size=5), kind="reg", device="cpu", seed=0)

    class Fit:
        def __init__(self, nets):
            self.nets = nets

        def steps(self):
            return [("a", lambda b: ((self.nets["a"](b[0]) - b[1]) ** 2).mean())]

    trainer = run.build(models=lambda: {"a": nn.Linear(3, 1), "frozen": nn.Linear(3, 1)}, objective=Fit, model_args={}, data=data)
    assert set(trainer.optimizers) == {"a"} and set(trainer.schedulers) == {"a"}
    trainer.fit(data)
    assert trainer.history[-1]["lr_a"] == pytest.approx(0.0, abs=1e-12)  # cosine to 0 at the last of 2 x 4 updates
