"""Stage `sequence-memory`: why gates exist. RNN, LSTM and GRU on the adding problem at length ``steps``,
each cell trained under ``seeds`` seeds side by side on the same data and budget (core's trainer).

The training and test sequences are generated from ``common.seed`` (:mod:`stages.sequence.adding`).
Every run's per-update loss and gradient norm before clipping (``curves.csv``); each trained
network's test MSE against the trivial answer's 1/6 (``metrics.json``: per run, per cell mean and range,
and the goals: gated cells below ``GATED_GOAL`` on every seed, the plain RNN above ``RNN_FLOOR`` on
every seed); how strongly each step's input still moves the trained networks' answer
(``through_time.csv``: ``||dL/dx^t||``); ``memory.png`` draws the three.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.side_by_side import Run, over_seeds, seed_names, side_by_side_parts, variant_of
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.sequence import params
from stages.sequence.adding import (TRIVIAL_MSE, adding_problem, held_out_mse, input_gradient_norms, mse_loss, net_args,
                                    recurrent_net)

log = logging.getLogger(__name__)
KIND = "sequence-memory"
GATED_GOAL = 0.02  # test MSE every LSTM and GRU run must stay below (the trivial answer scores 1/6)
RNN_FLOOR = 0.1  # test MSE every plain RNN run stays above: it does not learn to carry the numbers
TEST_OFFSET = 1_000_003  # the test sequences' generator is seeded apart from the training ones


def summary(mse: dict[str, float], cells: list[str]) -> dict:
    """Per cell: mean, min and max test MSE over its seeds; and the goals, each with the values it judged."""
    table = {c: s for c, s in over_seeds(mse).items() if c in cells}
    goals = {}
    gated = [c for c in cells if c in ("lstm", "gru")]
    if gated:
        worst = max(table[c]["max"] for c in gated)
        goals["gated_cells_learn"] = {"value": worst, "goal": f"every LSTM and GRU run below {GATED_GOAL} test MSE",
                                      "met": worst < GATED_GOAL}
    if "rnn" in cells:
        best = table["rnn"]["min"]
        goals["plain_rnn_does_not"] = {"value": best, "goal": f"every plain RNN run above {RNN_FLOOR} test MSE",
                                       "met": best > RNN_FLOOR}
    return {"cells": table, "goals": goals}


def curves_frame(traces: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"run": name, "cell": variant_of(name), "update": np.arange(1, len(t) + 1),
                            "loss": [v[0] for v in t], "grad_norm": [v[1] for v in t]}) for name, t in traces.items()]
    return pd.concat(frames, ignore_index=True)


def figure(curves: pd.DataFrame, through: pd.DataFrame, mse: dict[str, float], p: params.MemoryParams):
    fig, axes = new_figure(1, 3, figsize=(16, 4.5))
    colours = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    window = max(1, int(curves["update"].max()) // 50)
    for name, rows in curves.groupby("run", sort=False):
        c = colours[variant_of(name)]
        axes[0].semilogy(rows["update"], rows["loss"].rolling(window, min_periods=1).mean(), color=c, alpha=0.7, lw=1)
        axes[1].semilogy(rows["update"], rows["grad_norm"].rolling(window, min_periods=1).mean(), color=c, alpha=0.7, lw=1)
    axes[0].axhline(TRIVIAL_MSE, color="k", ls=":", label="always 1.0 (1/6)")
    means = over_seeds(mse)
    for cell, c in colours.items():
        if cell in p.cells:
            axes[0].plot([], [], color=c, label=f"{cell} (test MSE {means[cell]['mean']:.4f})")
    axes[0].set(title=f"adding problem, T = {p.steps}: training MSE (mean of {window} updates)", xlabel="update", ylabel="MSE")
    axes[0].legend(fontsize=8)
    if p.clip_grad_norm is not None:
        axes[1].axhline(p.clip_grad_norm, color="k", ls=":", label=f"clipped to {p.clip_grad_norm:g}")
        axes[1].legend(fontsize=8)
    axes[1].set(title="gradient norm before clipping", xlabel="update", ylabel="||g||")
    for name, rows in through.groupby("run", sort=False):
        axes[2].semilogy(rows["step"], rows["input_grad_norm"], color=colours[variant_of(name)], alpha=0.7, lw=1)
    axes[2].set(title="trained nets: ||dL/dx^t|| by input step", xlabel="input step t (the answer is read after the last)",
                ylabel="gradient norm")
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    import torch

    p = params.load().memory
    run = TrainingRun(stage, p, kind=KIND)
    # one CPU thread: for these small recurrent layers (32 units, batches of 64) a second thread costs more
    # than it brings (benchmarks/bench_sequence.py: 401k time steps/s on one thread, 331k on two, same run)
    torch.set_num_threads(1)
    x, y = (torch.from_numpy(a) for a in adding_problem(np.random.default_rng(run.seed), p.train_sequences, p.steps))
    x_test, y_test = (torch.from_numpy(a) for a in adding_problem(np.random.default_rng(run.seed + TEST_OFFSET),
                                                                  p.test_sequences, p.steps))
    runs = {}
    for cell in p.cells:
        args = net_args(cell, p.hidden, p.forget_bias)
        for name, seed in seed_names(cell, run.seed, p.seeds).items():
            runs[name] = Run(net=lambda a=args: recurrent_net(a), loss=mse_loss, seed=seed, data=(x, y), args=args)
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size, trace=True))
    nets = {n: m.cpu() for n, m in trainer.models.items()}
    mse = {n: held_out_mse(net, x_test, y_test) for n, net in nets.items()}
    for n, v in mse.items():
        log.info("%s: test MSE %.4f (always 1.0: %.4f)", n, v, TRIVIAL_MSE)
    probe = x_test[:100]
    through = pd.concat([pd.DataFrame({"run": n, "cell": variant_of(n), "step": np.arange(1, p.steps + 1),
                                       "input_grad_norm": input_gradient_norms(net, probe, y_test[:100])})
                         for n, net in nets.items()], ignore_index=True)
    curves = curves_frame(trainer.objective.traces)
    result = summary(mse, p.cells)
    extra = {"test_mse": mse, "trivial_mse": float(((y_test - 1.0) ** 2).mean()), **result,
             "n_train": p.train_sequences, "n_test": p.test_sequences}
    run.finish(extra=extra, figures={"memory.png": figure(curves, through, mse, p)},
               write=lambda out: (out.text(stage.out("curves.csv"), curves.to_csv(index=False)),
                                  out.text(stage.out("through_time.csv"), through.to_csv(index=False))))


if __name__ == "__main__":
    run_stage(main)
