"""Stage `sequence-bptt`: the study notes' numpy RNN, its BPTT checked, its gradients through time, clipping.

Three measurements, all numpy (float64) and seeded by ``common.seed``:

- ``gradient_check.csv``: BPTT's gradient of every weight against ``torch.autograd``'s on the same
  weights and inputs (max absolute and relative difference); the metric ``max_abs_grad_diff``.
- ``through_time.csv``: ``||dE/du^t||`` for an error at the last of ``through_time.steps`` steps, with
  the recurrent matrix's singular values all ``s`` (sigmoid' ≤ 1/4, so each step back multiplies by
  about ``s/4``: below 4 the gradient vanishes, above it explodes), and the norm of the whole gradient
  ``dE/dW`` for each sequence length, plain and clipped (the notes' ``gradient_clipping``).
- ``addition.csv``: the notes' exercise (binary addition, least significant bit first) trained twice
  from the same weights and batches, plain and with every gradient clipped: loss, gradient norm and
  whether clipping fired at each update; the metrics give the share of all ``2^(bits-1)``² sums each
  gets exactly right.

``bptt.png`` draws all three.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.sequence import params
from stages.sequence.numpy_rnn import (NumpyRNN, autograd_gradients, bptt, deltas_from_last, every_pair, exact_match,
                                       forward, gradient_clipping, train_addition)

log = logging.getLogger(__name__)


def gradient_check(p: params.BpttParams, rng: np.random.Generator) -> pd.DataFrame:
    """One row per weight: BPTT's gradient against autograd's (module docstring)."""
    net = NumpyRNN.init(2, p.hidden, 1, rng)
    x = rng.standard_normal((p.check.sequences, p.check.steps, 2))
    d = rng.random((p.check.sequences, p.check.steps, 1))
    ours, _ = bptt(net, forward(net, x), d)
    theirs = autograd_gradients(net, x, d)
    rows = []
    for name in ours:
        diff = np.abs(ours[name] - theirs[name])
        rows.append({"weight": name, "shape": "x".join(map(str, ours[name].shape)), "max_abs_diff": float(diff.max()),
                     "max_rel_diff": float((diff / np.maximum(np.abs(theirs[name]), 1e-12)).max()),
                     "grad_norm": float(np.linalg.norm(theirs[name]))})
    return pd.DataFrame(rows)


def through_time(p: params.BpttParams, rng: np.random.Generator) -> pd.DataFrame:
    """Rows ``(singular_value, step_back, delta_norm, grad_norm, clipped_grad_norm)``: the error signal
    ``step_back`` steps before the last, and the norm of ``dE/dW`` (plain and clipped) for a sequence of
    ``step_back + 1`` steps whose error is at its end."""
    tt = p.through_time
    base = NumpyRNN.init(2, p.hidden, 1, rng)
    x = rng.integers(0, 2, (8, tt.steps, 2)).astype(np.float64)  # bits, as in the addition exercise
    rows = []
    for s in tt.singular_values:
        net = base.with_singular_values(s, np.random.default_rng(rng.integers(2**32)))
        fw = forward(net, x)
        deltas = deltas_from_last(net, fw)[:, ::-1]  # index k: k steps back from the last
        norms = np.linalg.norm(deltas, axis=2).mean(axis=0)
        # dE/dW of an error at the last step for every shorter sequence ending there: sum of z^{t-1}^T delta^t
        z_prev = fw.z[:, :-1][:, ::-1]
        per_step = np.einsum("bth,btk->thk", z_prev, deltas) / len(x)
        running = np.cumsum(per_step, axis=0)
        grad_norms = np.linalg.norm(running.reshape(len(running), -1), axis=1)
        clipped = np.array([np.linalg.norm(gradient_clipping(g, tt.clip)) for g in running])
        rows.extend({"singular_value": s, "step_back": k, "delta_norm": float(norms[k]), "grad_norm": float(grad_norms[k]),
                     "clipped_grad_norm": float(clipped[k])} for k in range(tt.steps))
    return pd.DataFrame(rows)


def addition(p: params.BpttParams, seed: int) -> tuple[pd.DataFrame, dict]:
    """The exercise trained plain and clipped from the same seed (same weights, same batches)."""
    a = p.addition
    x, d = every_pair(a.bits)
    frames, summary = [], {}
    for label, clip in (("plain", None), ("clipped", a.clip)):
        run = train_addition(np.random.default_rng(seed), bits=a.bits, hidden=p.hidden, updates=a.updates, batch=a.batch,
                             lr=a.lr, weight_init_std=a.weight_init_std, clip=clip)
        frames.append(pd.DataFrame({"run": label, "update": np.arange(1, a.updates + 1), "loss": run.losses,
                                    "grad_norm": run.norms, "clipped": run.clipped}))
        tail = max(1, a.updates // 10)
        summary[label] = {"exact_match": exact_match(run.net, x, d), "final_loss": float(run.losses[-tail:].mean()),
                          "clipped_share": float(run.clipped.mean()), "max_grad_norm": float(run.norms.max())}
        log.info("binary addition, %s: %.1f%% of the %d sums exactly right", label, 100 * summary[label]["exact_match"], len(x))
    return pd.concat(frames, ignore_index=True), summary


def figure(check: pd.DataFrame, tt: pd.DataFrame, add: pd.DataFrame, p: params.BpttParams):
    fig, axes = new_figure(1, 3, figsize=(16, 4.5))
    ax = axes[0]
    for s, rows in tt.groupby("singular_value"):
        ax.semilogy(rows["step_back"], rows["delta_norm"], label=f"s = {s:g}")
    ax.set(title="error signal through time (sigmoid RNN)", xlabel="steps back from the error",
           ylabel="||dE/du^t|| (unit error at the last step)")
    ax.legend(title="singular values of W", fontsize=8)
    ax = axes[1]
    worst = tt[tt["singular_value"] == tt["singular_value"].max()]
    ax.semilogy(worst["step_back"] + 1, worst["grad_norm"], label="plain")
    ax.semilogy(worst["step_back"] + 1, worst["clipped_grad_norm"], "--", label=f"clipped at {p.through_time.clip:g}")
    ax.set(title=f"||dE/dW|| by sequence length (s = {worst['singular_value'].iloc[0]:g})", xlabel="sequence length",
           ylabel="gradient norm")
    ax.legend(fontsize=8)
    ax = axes[2]
    window = max(1, p.addition.updates // 50)
    for label, rows in add.groupby("run", sort=False):
        ax.plot(rows["update"], rows["loss"].rolling(window, min_periods=1).mean(), label=f"{label} (loss)")
    ax.set(title=f"binary addition ({p.addition.bits} bits), loss (mean of {window} updates)", xlabel="update", ylabel="E")
    ax.legend(fontsize=8)
    fig.suptitle(f"BPTT by hand: max |BPTT - autograd| = {check['max_abs_diff'].max():.1e}")
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    p, seed = params.load().bptt, load_common().seed
    rng = np.random.default_rng(seed)
    check = gradient_check(p, rng)
    log.info("BPTT vs autograd: max abs difference %.2e over %d weights", check["max_abs_diff"].max(), len(check))
    tt = through_time(p, rng)
    add, summary = addition(p, seed)
    last = tt[tt["step_back"] == tt["step_back"].max()]
    metrics = {"max_abs_grad_diff": float(check["max_abs_diff"].max()),
               "through_time": {"steps": p.through_time.steps,
                                "delta_norm_at_first_step": {f"{s:g}": float(v) for s, v in
                                                             zip(last["singular_value"], last["delta_norm"])}},
               "addition": summary}
    with stage.outputs() as out:
        out.text(stage.out("gradient_check.csv"), check.to_csv(index=False))
        out.text(stage.out("through_time.csv"), tt.to_csv(index=False))
        out.text(stage.out("addition.csv"), add.to_csv(index=False))
        out.figure(stage.out("bptt.png"), figure(check, tt, add, p))
        out.json(stage.out("metrics.json"), metrics)


if __name__ == "__main__":
    run_stage(main)
