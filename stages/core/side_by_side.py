"""Several training runs side by side in one stage: one network per (variant, seed), each with its
own optimizer, loss and batch order, under core's one trainer.

Goals judged over seeds, and variants that differ only in their network and loss (compress: a
student, its distilled twin and its separable cousin; sequence: an RNN, an LSTM and a GRU on the same
data), make one stage train them all: :class:`SideBySide` is a
:class:`~stages.core.trainer.ManualObjective` whose iteration updates every run once, each on the
next batch of its own permutation of the data (a ``torch.Generator`` seeded by the run's seed), and
:func:`side_by_side_parts` builds each network from its own seed. Runs started from the same network
(the pruned teacher fine-tuned under three seeds) so still differ by their batch order. Everything
else (optimizers from the recipe, the schedule, resume, checkpoint, history, the run record) is
core's: the history has one ``loss_<run>`` column per run. With ``trace=True`` the objective also
keeps every update's loss and gradient norm (before clipping) per run, :attr:`SideBySide.traces`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stages.core.batches import Iterations


@dataclass
class Run:
    """One run: its network (a builder, called once the run's seed is set), its loss ``(net, batch)
    → scalar``, its seed and the tensors it draws batches from (first dimension: examples)."""

    net: Callable[[], Any]
    loss: Callable[[Any, tuple], Any]
    seed: int
    data: tuple
    args: dict[str, Any]  # the network's model_args
    lengths: Any = None  # each example's length (a tensor): batches of similar lengths, see :func:`length_grouped`


class SideBySide:
    """The manual objective of :func:`side_by_side_parts` (module docstring)."""

    def __init__(self, nets: dict[str, Any], runs: dict[str, Run], batch_size: int, trace: bool = False) -> None:
        import torch

        self.nets, self.runs, self.batch_size = nets, runs, batch_size
        self.updates = tuple(runs)
        self.generators = {n: torch.Generator().manual_seed(r.seed) for n, r in runs.items()}
        self.orders: dict[str, Any] = {n: None for n in runs}
        self.positions = {n: 0 for n in runs}
        self.trace = trace
        self.traces: dict[str, list[tuple[float, float]]] = {n: [] for n in runs}  # (loss, gradient norm) per update
        self._squares: dict[str, Any] = {n: 0.0 for n in runs}  # this update's sum of squared gradients (a tensor)
        if trace:
            for name, net in nets.items():
                for p in net.parameters():
                    if p.requires_grad:  # called once each gradient is complete: before the trainer clips it
                        p.register_post_accumulate_grad_hook(lambda p, name=name: self._add_square(name, p))

    def _add_square(self, name: str, param) -> None:
        self._squares[name] = self._squares[name] + param.grad.detach().float().square().sum()

    def _next_indices(self, name: str):
        import torch

        run = self.runs[name]
        n = len(run.data[0])
        if self.orders[name] is None or self.positions[name] >= n:
            order = torch.randperm(n, generator=self.generators[name])
            if run.lengths is not None:
                order = length_grouped(order, run.lengths, self.batch_size, self.generators[name])
            self.orders[name], self.positions[name] = order, 0
        start = self.positions[name]
        self.positions[name] = min(start + self.batch_size, n)
        return self.orders[name][start:self.positions[name]]

    def iteration(self, batch: int, step) -> None:
        for name, run in self.runs.items():
            idx = self._next_indices(name)
            tensors = tuple(t[idx].to(step.device) for t in run.data)
            with step.autocast():
                loss = run.loss(self.nets[name], tensors)
            self._squares[name] = 0.0
            step.update(name, loss)
            if self.trace:
                self.traces[name].append((float(loss.detach()), math.sqrt(float(self._squares[name]))))

    def state_dict(self) -> dict[str, Any]:
        state = {"generators": {n: g.get_state() for n, g in self.generators.items()},
                 "orders": {n: o for n, o in self.orders.items() if o is not None}, "positions": dict(self.positions)}
        return {**state, "traces": self.traces} if self.trace else state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, g in self.generators.items():
            g.set_state(state["generators"][n])
            self.orders[n] = state["orders"].get(n)
            self.positions[n] = state["positions"][n]
        if self.trace:
            self.traces = {n: list(state["traces"][n]) for n in self.runs}


def length_grouped(order, lengths, batch_size: int, generator, pool: int = 50):
    """A random order whose consecutive ``batch_size`` examples have similar lengths (fairseq's and
    Hugging Face's "sortish" sampling): the shuffled ``order`` cut into pools of ``pool`` batches, each
    pool sorted by length (stable), its full batches then shuffled across the whole epoch and the one
    short batch, if any, put last (so that cutting the order every ``batch_size`` gives these batches).
    Padded sequences trimmed to their batch's longest then cost what their real tokens cost."""
    import torch

    size = batch_size * pool
    pools = [chunk[torch.sort(lengths[chunk], stable=True).indices] for chunk in order.split(size)]
    batches = [b for chunk in pools for b in chunk.split(batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    return torch.cat([full[i] for i in torch.randperm(len(full), generator=generator).tolist()] + [b for b in batches if len(b) < batch_size])


def side_by_side_parts(runs: dict[str, Run], batch_size: int, trace: bool = False) -> dict[str, Any]:
    """What core's ``TrainingRun.fit``/``build`` takes to train ``runs`` side by side: networks (each
    built under its own seed), the objective (``trace``: it keeps per-update losses and gradient
    norms), the data (iterations per epoch: one pass over the largest run's data) and the model args
    (``{"nets": {run: model_args}}``)."""
    import torch

    if not runs:
        raise ValueError("no runs to train side by side")

    def models() -> dict[str, Any]:
        nets = {}
        for name, run in runs.items():
            torch.manual_seed(run.seed)
            nets[name] = run.net()
        return nets

    longest = max(len(r.data[0]) for r in runs.values())
    return {"models": models, "objective": lambda nets: SideBySide(nets, runs, batch_size, trace),
            "data": Iterations(math.ceil(longest / batch_size)),
            "model_args": {"nets": {n: r.args for n, r in runs.items()}}}


def cross_entropy(net, batch):
    """The loss of a run trained on labels alone: cross-entropy on ``(images, labels)`` batches."""
    import torch.nn.functional as F

    return F.cross_entropy(net(batch[0]), batch[1])


def seed_names(prefix: str, seed: int, seeds: int) -> dict[str, int]:
    """``{"<prefix>_seed<s>": s}`` for the ``seeds`` seeds ``seed, seed + 1, …``."""
    return {f"{prefix}_seed{s}": s for s in range(seed, seed + seeds)}


def variant_of(run: str) -> str:
    """The variant a run of :func:`seed_names` belongs to: ``student_seed1`` → ``student``; ``ptq`` → ``ptq``."""
    return run.rsplit("_seed", 1)[0]


def over_seeds(values: dict[str, float]) -> dict[str, dict[str, float]]:
    """One number per run → per variant its mean, min and max over the variant's seeds, and their count."""
    grouped: dict[str, list[float]] = {}
    for run, v in values.items():
        grouped.setdefault(variant_of(run), []).append(v)
    return {k: {"mean": float(sum(v) / len(v)), "min": float(min(v)), "max": float(max(v)), "seeds": len(v)}
            for k, v in grouped.items()}


