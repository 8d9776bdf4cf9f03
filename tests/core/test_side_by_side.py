import copy
import math

import pytest
import torch
from torch import nn

from stages.core.recipe import Recipe
from stages.core.side_by_side import Run, SideBySide, cross_entropy, over_seeds, seed_names, side_by_side_parts
from stages.core.training import TrainingRun

ARGS = {"inputs": 64, "classes": 10}


def build(args):
    return nn.Sequential(nn.Flatten(), nn.Linear(args["inputs"], 16), nn.ReLU(), nn.Linear(16, args["classes"]))


def _data(n=40):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _train(runs, epochs=2, trace=False, clip=None):
    run = TrainingRun("side-by-side-test", Recipe(epochs=epochs, batch_size=8, optimizer="adam", lr=1e-2, clip_grad_norm=clip),
                      kind="test-mlp", device="cpu", seed=0)
    parts = side_by_side_parts(runs, 8, trace=trace)
    trainer = run.build(**parts)
    trainer.fit(parts["data"])
    return trainer


def test_seed_names_count_up_from_the_seed():
    assert seed_names("student", 42, 3) == {"student_seed42": 42, "student_seed43": 43, "student_seed44": 44}


def test_runs_of_one_seed_agree_and_runs_of_two_seeds_differ():
    x, y = _data()
    runs = {name: Run(net=lambda: build(ARGS), loss=cross_entropy, seed=seed, data=(x, y), args=ARGS)
            for name, seed in {"a_seed0": 0, "b_seed0": 0, "c_seed1": 1}.items()}
    trainer = _train(runs)
    nets = trainer.models
    xs = x[:5]
    with torch.no_grad():
        assert torch.equal(nets["a_seed0"].eval()(xs), nets["b_seed0"].eval()(xs))  # same init, same batch order
        assert not torch.equal(nets["a_seed0"](xs), nets["c_seed1"].eval()(xs))
    assert {"loss_a_seed0", "loss_c_seed1"} <= set(trainer.history[-1])
    assert trainer.checkpoint()["model_args"] == {"nets": {n: ARGS for n in runs}}


def test_runs_from_one_network_differ_by_their_batch_order():
    x, y = _data()
    torch.manual_seed(0)
    start = build(ARGS)
    runs = {f"r_seed{s}": Run(net=lambda: copy.deepcopy(start), loss=cross_entropy, seed=s, data=(x, y), args=ARGS)
            for s in (0, 1)}
    nets = _train(runs).models
    assert not torch.equal(nets["r_seed0"].state_dict()["1.weight"], nets["r_seed1"].state_dict()["1.weight"])


def test_each_run_sees_every_example_once_per_pass():
    x, y = torch.arange(20).float().view(20, 1, 1, 1), torch.zeros(20, dtype=torch.long)
    runs = {"r_seed3": Run(net=lambda: None, loss=cross_entropy, seed=3, data=(x, y), args={})}
    objective = SideBySide({"r_seed3": None}, runs, batch_size=8)
    seen = torch.cat([objective._next_indices("r_seed3") for _ in range(3)])  # 8 + 8 + 4
    assert sorted(seen.tolist()) == list(range(20))
    state = objective.state_dict()
    after = objective._next_indices("r_seed3")
    objective.load_state_dict(state)
    assert torch.equal(objective._next_indices("r_seed3"), after)  # a resumed run draws the same batches


def test_parts_iterate_one_pass_over_the_largest_run():
    x, y = _data(40)
    runs = {"a_seed0": Run(net=lambda: build(ARGS), loss=cross_entropy, seed=0, data=(x, y), args=ARGS),
            "b_seed0": Run(net=lambda: build(ARGS), loss=cross_entropy, seed=0, data=(x[:10], y[:10]), args=ARGS)}
    assert len(side_by_side_parts(runs, 8)["data"]) == 5
    with pytest.raises(ValueError):
        side_by_side_parts({}, 8)


def test_a_trace_keeps_each_update_loss_and_gradient_norm_before_clipping():
    x, y = _data()
    runs = {"a_seed0": Run(net=lambda: build(ARGS), loss=cross_entropy, seed=0, data=(x, y), args=ARGS)}
    trainer = _train(runs, epochs=1, trace=True, clip=1e-3)
    traces = trainer.objective.traces["a_seed0"]
    assert len(traces) == 5  # 40 examples in batches of 8
    assert all(norm > 1e-3 for _, norm in traces)  # measured before the trainer clipped to 1e-3
    assert trainer.history[-1]["loss_a_seed0"] == pytest.approx(sum(loss for loss, _ in traces) / 5, rel=1e-5)
    torch.manual_seed(0)  # the first update's norm, recomputed from the same initial weights and batch
    net = build(ARGS)
    idx = torch.randperm(40, generator=torch.Generator().manual_seed(0))[:8]
    cross_entropy(net, (x[idx], y[idx])).backward()
    assert traces[0][1] == pytest.approx(math.sqrt(sum(float(p.grad.square().sum()) for p in net.parameters())), rel=1e-5)
    state = trainer.objective.state_dict()
    assert "traces" in state and "traces" not in SideBySide(trainer.models, runs, 8).state_dict()


def test_over_seeds_groups_runs_by_their_variant():
    assert over_seeds({"a_seed0": 1.0, "a_seed1": 3.0, "b_seed0": 0.5, "ptq": 2.0}) == {
        "a": {"mean": 2.0, "min": 1.0, "max": 3.0, "seeds": 2}, "b": {"mean": 0.5, "min": 0.5, "max": 0.5, "seeds": 1},
        "ptq": {"mean": 2.0, "min": 2.0, "max": 2.0, "seeds": 1}}
