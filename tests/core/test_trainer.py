"""The core Trainer's options on tiny models: batches of any shape, accumulation, clipping, schedules,
EMA, validation, precision, resume with all of them."""
from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stages.core.checkpoint import load_checkpoint, save_checkpoint
from stages.core.errors import TrainingError
from stages.core.batches import TensorData, batch_len, to_device
from stages.core.device import precision_on, setup_torch
from stages.core.trainer import Trainer
from stages.core.training import resume_path, without_wall_clock


class Regress:
    """MSE of a network on (x, y) batches (tuples or dicts); records the weights each loss saw."""

    def __init__(self, net: nn.Module) -> None:
        self.net, self.seen = net, []

    def steps(self):
        return [("net", self.loss)]

    def loss(self, batch):
        x, y = (batch["x"], batch["y"]) if isinstance(batch, dict) else batch
        self.seen.append([p.detach().clone() for p in self.net.parameters()])
        return F.mse_loss(self.net(x).squeeze(1), y)


def data(n: int = 16, names=None) -> TensorData:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 4, generator=g)
    return TensorData(x, x.sum(1) * 0.5 + 1, names=names)


def trainer(net=None, *, opt=None, epochs=1, batch_size=4, lr=0.1, **options) -> Trainer:
    setup_torch(0, "cpu")
    net = net or nn.Linear(4, 1)
    opt = opt or torch.optim.SGD(net.parameters(), lr=lr)
    options.setdefault("objective", Regress(net))
    return Trainer(models={"net": net}, optimizers={"net": opt}, kind="regress", model_args={}, params={},
                   epochs=epochs, batch_size=batch_size, device=torch.device("cpu"), seed=0, **options)


def weights(t: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in t.models["net"].parameters()]


def test_to_device_moves_every_tensor_and_keeps_the_structure():
    Pair = namedtuple("Pair", "a b")
    batch = {"x": torch.zeros(2), "nested": [(torch.ones(1), "label"), Pair(torch.ones(3), 5)]}
    moved = to_device(batch, "meta")
    assert moved["x"].device.type == "meta" and moved["nested"][0][0].device.type == "meta"
    assert moved["nested"][0][1] == "label" and isinstance(moved["nested"][1], Pair) and moved["nested"][1].b == 5
    assert batch["x"].device.type == "cpu"  # the input is not changed
    assert batch_len(batch) == 2 and batch_len(("no tensors",)) == 0


def test_tensor_data_yields_a_tensor_a_tuple_or_a_dict_per_batch():
    x, y = torch.arange(10.0), torch.arange(10)
    assert torch.equal(TensorData(x)[[1, 3]], torch.tensor([1.0, 3.0]))
    xs, ys = TensorData(x, y)[[2]]
    assert xs.tolist() == [2.0] and ys.tolist() == [2]
    assert TensorData(x, y, names=("x", "y"))[[4, 5]]["y"].tolist() == [4, 5]
    with pytest.raises(AssertionError, match="differ in length"):
        TensorData(x, y[:3])


def test_dict_tuple_and_ready_loader_batches_all_train_the_same():
    ends = []
    for batches in (data(names=("x", "y")), data(), TensorDataset(*data().tensors)):  # batched dict, batched tuple, per-item
        t = trainer(epochs=2)
        t.fit(batches)
        ends.append(weights(t))
    for other in ends[1:]:
        assert all(torch.allclose(a, b) for a, b in zip(ends[0], other))
    t = trainer()
    t.fit(DataLoader(TensorDataset(*data().tensors), batch_size=8))  # used as given: 2 batches
    assert len(t.objective.seen) == 2


def test_accumulating_two_batches_of_four_equals_one_batch_of_eight():
    big, acc = trainer(batch_size=8), trainer(batch_size=4, accumulate=2)
    big.fit(data())
    acc.fit(data())
    assert len(big.objective.seen) == 2 and len(acc.objective.seen) == 4
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(weights(big), weights(acc)))
    assert big.history[0]["loss_net"] == pytest.approx(acc.history[0]["loss_net"], rel=1e-5)


def test_clipping_bounds_each_update():
    t = trainer(lr=1.0, clip_grad_norm=1e-3)
    t.fit(data())
    before = t.objective.seen
    steps = [torch.cat([(a - b).flatten() for a, b in zip(later, earlier)]).norm() for earlier, later in zip(before, before[1:])]
    assert steps and max(steps) <= 1e-3 + 1e-7
    free = trainer(lr=1.0)
    free.fit(data())
    assert torch.cat([(a - b).flatten() for a, b in zip(free.objective.seen[1], free.objective.seen[0])]).norm() > 1e-2


def test_schedulers_step_per_update_or_per_epoch_and_go_into_the_history():
    net = nn.Linear(4, 1)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 10))
    t = Trainer(models={"net": net}, optimizers={"net": opt}, objective=Regress(net), kind="r", model_args={}, params={},
                epochs=2, batch_size=4, device=torch.device("cpu"), seed=0, schedulers={"net": warm})
    t.fit(data())
    assert [r["lr_net"] for r in t.history] == pytest.approx([0.5, 0.9])  # 4 updates per epoch
    net2 = nn.Linear(4, 1)
    opt2 = torch.optim.SGD(net2.parameters(), lr=1.0)
    t2 = Trainer(models={"net": net2}, optimizers={"net": opt2}, objective=Regress(net2), kind="r", model_args={}, params={},
                 epochs=2, batch_size=4, device=torch.device("cpu"), seed=0,
                 schedulers={"net": torch.optim.lr_scheduler.StepLR(opt2, 1, gamma=0.5)}, schedule_every="epoch")
    t2.fit(data())
    assert [r["lr_net"] for r in t2.history] == pytest.approx([0.5, 0.25])


def test_ema_is_the_moving_average_of_the_weights():
    t = trainer(batch_size=8, ema_decay=0.25)
    t.fit(data())
    p1, p2 = t.objective.seen[1], weights(t)  # after update 1, after update 2
    ema = [p.detach() for p in t.ema_model("net").parameters()]
    assert all(torch.allclose(e, 0.25 * a + 0.75 * b) for e, a, b in zip(ema, p1, p2))  # first update copies


def test_validation_metrics_go_into_the_history():
    net = nn.Linear(4, 1)
    t = trainer(net, epochs=3, objective=Regress(net), validate_every=2,
                val_step=lambda b: {"val_mse": F.mse_loss(net(b[0]).squeeze(1), b[1]), "val_n": torch.tensor(1.0)})
    t.fit(data(), data(10))
    assert ["val_mse" in r for r in t.history] == [False, True, True]  # every 2nd epoch and the last
    assert t.history[-1]["val_n"] == 1.0 and t.history[-1]["val_mse"] < t.history[1]["val_mse"]
    with pytest.raises(AssertionError, match="no val_step"):
        trainer().fit(data(), data())


def test_mixed_precision_only_on_cuda():
    assert precision_on(torch.device("cpu"), "bf16") == "fp32" and precision_on(torch.device("cpu"), "fp16") == "fp32"
    assert precision_on(torch.device("cuda", 0), "bf16") == "bf16" and precision_on(torch.device("cuda", 0), "fp16") == "fp16"
    with pytest.raises(AssertionError, match="fp32, fp16 or bf16"):
        precision_on(torch.device("cpu"), True)
    t = trainer(precision="fp16")
    assert t.precision == "fp32" and not t.scalers["net"].is_enabled()


def test_resume_with_schedule_and_ema_gives_the_bytes_of_an_uninterrupted_run(tmp_path):
    def run(epochs, folder):
        setup_torch(0, "cpu")
        net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
        opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.5, 0.9))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 6))
        t = trainer(net, opt=opt, epochs=epochs, objective=Regress(net), ema_decay=0.9, schedulers={"net": sched},
                    key="k", resume=tmp_path / folder / "last.pt")
        t.fit(data())
        return t

    whole = run(3, "whole")
    run(2, "cut")
    resumed = run(3, "cut")
    assert resumed.resumed_from == 2
    for name, t in (("whole", whole), ("resumed", resumed)):
        save_checkpoint(tmp_path / f"{name}.pt", {**t.checkpoint(), "history": without_wall_clock(t.history)})
    assert (tmp_path / "whole.pt").read_bytes() == (tmp_path / "resumed.pt").read_bytes()


class Explodes(Regress):
    """Regress whose loss is NaN (or inf) from the ``at``-th call on (1-based)."""

    def __init__(self, net: nn.Module, at: int, value: float) -> None:
        super().__init__(net)
        self.at, self.value, self.calls = at, value, 0

    def loss(self, batch):
        self.calls += 1
        loss = super().loss(batch)
        return loss * self.value if self.calls >= self.at else loss


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_the_run_naming_epoch_and_step_with_nothing_written(tmp_path, value):
    net = nn.Linear(4, 1)
    t = trainer(net, epochs=3, objective=Explodes(net, at=7, value=value), key="k", resume=tmp_path / "run" / "last.pt")
    with pytest.raises(TrainingError, match=r"^train: loss_net is not finite \(NaN or inf\) at epoch 2 of 3, step 3 of 4; "
                                            r"training stopped and nothing was written .* check the inputs and pretrained weights for NaN\.$"):
        t.fit(data())  # 4 updates an epoch: the 7th call is epoch 2's third step
    assert t.epoch == 1 and len(t.history) == 1
    saved = load_checkpoint(tmp_path / "run" / "last.pt", kind="regress", verify=True)
    assert saved["epoch"] == 1  # the last good epoch's checkpoint; the bad epoch saved nothing


def test_stale_resume_folders_of_the_stage_are_deleted_when_it_starts_with_other_params(tmp_path, monkeypatch):
    import fcntl
    import os

    monkeypatch.setenv("REPROLAB_CHECKPOINTS", str(tmp_path))
    killed = resume_path("gan-dcgan", "a" * 16)  # a run SIGKILLed mid-way, then params changed
    in_use = resume_path("gan-dcgan", "b" * 16)  # a run of the stage still going (holds its lock)
    others = [resume_path("gan-dcgan-x", "c" * 16), resume_path("gan-sagan", "d" * 16)]  # other stages
    for path in (killed, in_use, *others):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"checkpoint")
    fd = os.open(in_use.parent, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        net = nn.Linear(4, 1)
        t = trainer(net, key="e" * 16, resume=resume_path("gan-dcgan", "e" * 16))
        t.fit(data())
    finally:
        os.close(fd)
    assert not killed.parent.exists()
    assert in_use.exists() and all(p.exists() for p in others)
    assert t.resume.exists()  # its own checkpoint, until finish_training discards it


def test_setup_torch_makes_cpu_kernels_deterministic_without_importing_the_compiler():
    """What ``torch.use_deterministic_algorithms(True, warn_only=True)`` sets for eager kernels is set,
    and neither torch._dynamo nor torch._inductor is imported (seconds in every stage process)."""
    import subprocess
    import sys

    code = ("import sys, torch; from stages.core.device import setup_torch; setup_torch(0, 'cpu'); "
            "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
            "'torch._dynamo' in sys.modules, 'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False", "False"]


class WithTable(nn.Module):
    """A network that computes a non-persistent buffer at build time (the state dict lacks it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.register_buffer("table", torch.arange(4.0), persistent=False)

    def forward(self, x):
        return self.lin(x + self.table)


@pytest.mark.parametrize("make", [lambda: nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)), WithTable])
def test_load_models_gives_the_trained_networks_built_on_meta_or_not(tmp_path, make):
    """Built without initialising (the meta device) where the state dict holds every tensor, built the
    ordinary way where it does not: either way the loaded network is the saved one, on the CPU, frozen."""
    from stages.core.checkpoint import load_models

    torch.manual_seed(0)
    net = make()
    net.train()(torch.randn(8, 4))  # BatchNorm's running statistics move off their initial values
    save_checkpoint(tmp_path / "m.pt", {"kind": "toy", "model_args": {}, "params": {}, "epoch": 1,
                                            "models": {"net": net.state_dict()}})
    (loaded,), _ = load_models(tmp_path / "m.pt", "toy", lambda args: [make()], ("net",), "cpu")
    x = torch.randn(5, 4)
    assert torch.equal(loaded(x), net.eval()(x)) and not loaded.training
    assert all(t.device.type == "cpu" for t in (*loaded.parameters(), *loaded.buffers()))
    assert not any(p.requires_grad for p in loaded.parameters())
