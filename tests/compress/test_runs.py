import pytest
import torch

from stages.compress.nets import CNNConfig, as_args, build
from stages.compress.runs import Run, SideBySide, cross_entropy, seed_names, side_by_side_parts
from stages.core.recipe import Recipe
from stages.core.training import TrainingRun

ARGS = as_args(CNNConfig((2, 4, 4)))


def _data(n=40):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _train(runs, epochs=2):
    run = TrainingRun("compress-test", Recipe(epochs=epochs, batch_size=8, optimizer="adam", lr=1e-2), kind="compress-cnn",
                      device="cpu", seed=0)
    parts = side_by_side_parts(runs, 8)
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
    import copy
    runs = {f"r_seed{s}": Run(net=lambda: copy.deepcopy(start), loss=cross_entropy, seed=s, data=(x, y), args=ARGS)
            for s in (0, 1)}
    nets = _train(runs).models
    assert not torch.equal(nets["r_seed0"].state_dict()["0.0.weight"], nets["r_seed1"].state_dict()["0.0.weight"])


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
