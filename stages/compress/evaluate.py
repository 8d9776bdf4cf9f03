"""Stage `compress-evaluate`: every model of the pipeline judged on the same test split, as a
trade-off table, a Pareto figure and the issue's goals.

Rows of ``table.csv`` (one per variant; a variant trained under several seeds gives the mean and the
range over its seeds): the teacher; the student alone, distilled, and depthwise-separable; the
teacher pruned to each sparsity, before and after fine-tuning; the teacher in int8 after training
(PTQ) and trained for it (QAT). Columns: accuracy, parameters (and the non-zero ones), bytes on disk
(``torch.save`` of one run's state dict), the bytes of the non-zero weights alone (4 per fp32
weight, 1 per int8 weight: what a sparse or quantised format would have to store at least; the
Pareto figure's x axis), each also as a ratio to the teacher.

``omitted.csv``: the omitted-class students (hard labels, distilled), each before and after its bias
correction, on the omitted class's test images and on all of them.

Latency (batch 1 and the whole test split at once, the median of ``latency_repeats`` rounds in this
one process) is
wall-clock: it goes to the run record (``python -m pipelines runs``) and to
``benchmarks/compress_latency.py``, never into a DVC-tracked output (it would change their hashes on
every run).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from stages.compress import params
from stages.compress.distillation import with_bias_shift
from stages.compress.images import load_split, read_summary
from stages.compress.latency import latencies
from stages.compress.nets import load_nets, parameter_count
from stages.compress.pruning import prune_global
from stages.compress.quantization import load_int8, run_quantized, saved_bytes
from stages.core.classify import bootstrap_accuracy, predict
from stages.core.figures import new_figure
from stages.core.io import read_json
from stages.core.params import load_common
from stages.core.runs import write_run_record
from stages.core.runtime import run_stage
from stages.core.side_by_side import variant_of
from stages.core.stage import Declared

log = logging.getLogger(__name__)


def accuracy(logits, labels, mask=None) -> float:
    """Percent of rows whose argmax is the label (of the rows of ``mask`` when given)."""
    ok = (np.asarray(logits).argmax(1) == np.asarray(labels))
    ok = ok if mask is None else ok[mask]
    return round(100.0 * float(ok.mean()), 4)


def seed_rows(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant from runs' ``{"accuracy", "params", "nonzero_params", "bytes", "weight_bytes"}``: accuracy
    mean, min and max over the variant's seeds, the other columns of its first run."""
    variants: dict[str, list[dict]] = {}
    for name, r in runs.items():
        variants.setdefault(variant_of(name), []).append(r)
    rows = []
    for variant, rs in variants.items():
        acc = [r["accuracy"] for r in rs]
        rows.append({"model": variant, "seeds": len(rs), "accuracy": round(float(np.mean(acc)), 4),
                     "accuracy_min": min(acc), "accuracy_max": max(acc),
                     **{k: rs[0][k] for k in ("params", "nonzero_params", "bytes", "weight_bytes")}})
    return rows


def with_ratios(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table with each model's accuracy change (points) and its size as ratios to the teacher
    (``params_ratio`` = teacher's / model's: how many times smaller)."""
    table = pd.DataFrame(rows)
    teacher = table.set_index("model").loc["teacher"]
    table["accuracy_change"] = (table["accuracy"] - teacher["accuracy"]).round(4)
    table["params_ratio"] = (teacher["params"] / table["params"]).round(3)
    table["nonzero_ratio"] = (teacher["nonzero_params"] / table["nonzero_params"]).round(3)
    table["bytes_ratio"] = (teacher["bytes"] / table["bytes"]).round(3)
    table["weight_bytes_ratio"] = (teacher["weight_bytes"] / table["weight_bytes"]).round(3)
    return table


def goals(table: pd.DataFrame, omitted: pd.DataFrame, sparsity: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The issue's goals, each ``{"met": bool, ...the values it was judged on}``."""
    t = table.set_index("model")
    out: dict[str, dict[str, Any]] = {}
    corr = omitted[omitted["model"] == "distilled_corrected"]["on_omitted"].tolist()
    hard = omitted[omitted["model"] == "hard"]["on_omitted"].tolist()
    out["omitted_class_recovered"] = {"met": bool(corr) and min(corr) >= 90.0, "distilled_corrected_on_omitted": corr,
                                      "hard_on_omitted": hard, "goal": "≥ 90% of the omitted class on every seed"}
    s90 = sparsity[np.isclose(sparsity["sparsity"], 0.9)]
    if len(s90):
        after = float(s90["after"].mean())
        out["pruning_90_within_half_point"] = {"met": after >= t.loc["teacher", "accuracy"] - 0.5, "after": round(after, 4),
                                               "teacher": float(t.loc["teacher", "accuracy"]),
                                               "goal": "90% sparsity within 0.5 pt of the teacher after fine-tuning"}
    if "ptq" in t.index:
        drop = float(t.loc["teacher", "accuracy"] - t.loc["ptq", "accuracy"])
        out["int8_ptq"] = {"met": drop <= 1.0 and t.loc["ptq", "bytes_ratio"] >= 3.5, "drop": round(drop, 4),
                           "bytes_ratio": float(t.loc["ptq", "bytes_ratio"]), "goal": "≤ 1 pt drop, ≥ 3.5x smaller on disk"}
        if "qat" in t.index:
            need = float(t.loc["teacher", "accuracy"]) - max(drop, 0.0) / 2
            out["qat_recovers_half"] = {"met": float(t.loc["qat", "accuracy"]) >= need, "qat": float(t.loc["qat", "accuracy"]),
                                        "needed": round(need, 4),
                                        "goal": "QAT within half of PTQ's drop of the teacher"}
    if {"student", "separable"} <= set(t.index):
        ratio = float(t.loc["student", "params"] / t.loc["separable", "params"])
        drop = float(t.loc["student", "accuracy"] - t.loc["separable", "accuracy"])
        out["separable"] = {"met": ratio >= 7 and drop <= 0.5, "params_ratio": round(ratio, 3), "drop": round(drop, 4),
                            "goal": "≥ 7x fewer parameters than the student at ≤ 0.5 pt drop"}
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (smaller or equal x and higher or equal y, one
    strictly), sorted by x: the trade-off's frontier (x = size, y = accuracy)."""
    front = [i for i, (x, y) in enumerate(points)
             if not any(x2 <= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in points)]
    return sorted(front, key=lambda i: points[i][0])


def tradeoff_figure(table: pd.DataFrame, sparsity: pd.DataFrame, omitted: pd.DataFrame, omitted_class: str):
    fig, (ax, ax2, ax3) = new_figure(1, 3, figsize=(17, 5))
    from matplotlib.ticker import NullFormatter

    size = table["weight_bytes"].to_numpy(float)
    acc = table["accuracy"].to_numpy(float)
    labels: dict[tuple[float, float], list[str]] = {}  # models at one point share one label
    for i, row in table.iterrows():
        ax.errorbar(size[i], acc[i], yerr=[[acc[i] - row["accuracy_min"]], [row["accuracy_max"] - acc[i]]],
                    fmt="o", capsize=3)
        labels.setdefault((size[i], acc[i]), []).append(row["model"])
    for point, names in labels.items():
        ax.annotate(", ".join(names), point, textcoords="offset points", xytext=(4, 4), fontsize=7)
    front = pareto_front(list(zip(size, acc)))
    ax.plot(size[front], acc[front], "k--", lw=1, label="Pareto front")
    ax.set(xscale="log", xlabel="bytes of non-zero weights (fp32: 4, int8: 1 each; log)", ylabel="test accuracy (%)",
           title="accuracy against size (range over seeds)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8)
    means = sparsity.groupby("sparsity")[["before", "after"]].mean()
    ax2.plot(100 * means.index, means["before"], "o-", label="pruned, before fine-tuning")
    ax2.plot(100 * means.index, means["after"], "o-", label="after fine-tuning")
    ax2.axhline(float(table.set_index("model").loc["teacher", "accuracy"]), color="k", ls=":", label="teacher")
    ax2.set(xlabel="sparsity (% of weights zero)", ylabel="test accuracy (%)", title="global magnitude pruning")
    ax2.legend(fontsize=8)
    pivot = omitted.groupby("model")["on_omitted"].mean().reindex(["hard", "hard_corrected", "distilled", "distilled_corrected"])
    ax3.bar(range(len(pivot)), pivot.to_numpy(), color=["grey", "silver", "tab:blue", "tab:green"])
    ax3.set_xticks(range(len(pivot)), ["hard", "hard\n+ bias", "distilled", "distilled\n+ bias"])
    ax3.set(ylabel=f"accuracy on the omitted class {omitted_class} (%)", ylim=(0, 105),
            title="a student that never saw the class (mean of seeds)")
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    section, common = params.load(), load_common()
    summary = read_summary(stage.dep("summary.json"))
    x, y = load_split(stage.dep("test.npz"), summary)
    labels = y.numpy()
    teacher = load_nets(stage.dep("teacher/model.pt"))["net"]
    floats: dict[str, Any] = {"teacher": teacher, **load_nets(stage.dep("students/model.pt")),
                              **load_nets(stage.dep("prune/model.pt"))}
    runs = {}
    for name, net in floats.items():
        nonzero = parameter_count(net, nonzero=True)
        runs[name] = {"accuracy": accuracy(predict(net, x, "cpu"), labels), "params": parameter_count(net),
                      "nonzero_params": nonzero, "bytes": saved_bytes(net), "weight_bytes": 4 * nonzero}
    # pruning: accuracy right after pruning (before fine-tuning), and the curve
    curve = []
    for s in section.prune.sparsities:
        before = accuracy(predict(prune_global(teacher, s), x, "cpu"), labels)
        for name, r in runs.items():
            if name.startswith(f"sparsity{100 * s:g}_seed"):
                curve.append({"sparsity": s, "seed": int(name.rsplit("_seed", 1)[1]), "before": before, "after": r["accuracy"]})
    sparsity = pd.DataFrame(curve)
    # int8
    int8, backend = load_int8(stage.dep("quantize/int8.pt"))
    for name, model in int8.items():
        nonzero = parameter_count(teacher, nonzero=True)
        runs[name] = {"accuracy": accuracy(run_quantized(model, x), labels), "params": parameter_count(teacher),
                      "nonzero_params": nonzero, "bytes": saved_bytes(model), "weight_bytes": nonzero}
    rows = seed_rows(runs)
    for row in rows:  # the pruned variants' rows name their state before fine-tuning too
        if row["model"].startswith("sparsity"):
            s = float(row["model"][len("sparsity"):]) / 100
            row["before_finetune"] = float(sparsity[np.isclose(sparsity["sparsity"], s)]["before"].iloc[0])
    table = with_ratios(rows)
    # the omitted class
    om_metrics = read_json(stage.dep("omitted/metrics.json"))
    k, shifts = om_metrics["omitted"], om_metrics["bias_shift"]
    on_k = labels == k
    om_rows = []
    for name, net in load_nets(stage.dep("omitted/model.pt")).items():
        variant, seed = name.rsplit("_seed", 1)
        for corrected, model in ((False, net), (True, with_bias_shift(net, k, shifts[name]))):
            logits = predict(model, x, "cpu")
            om_rows.append({"model": variant + ("_corrected" if corrected else ""), "seed": int(seed),
                            "bias_shift": shifts[name] if corrected else 0.0,
                            "on_omitted": accuracy(logits, labels, on_k), "overall": accuracy(logits, labels)})
    omitted = pd.DataFrame(om_rows)
    teacher_correct = predict(teacher, x, "cpu").numpy().argmax(1) == labels
    low, high = bootstrap_accuracy(teacher_correct, section.evaluate.resamples, common.seed)
    metrics = {"n_test": len(labels), "teacher_accuracy": float(table.set_index("model").loc["teacher", "accuracy"]),
               "teacher_interval": [round(100 * low, 4), round(100 * high, 4)], "backend": backend,
               "goals": goals(table, omitted, sparsity),
               "models": {r["model"]: {k2: r[k2] for k2 in ("accuracy", "accuracy_change", "params_ratio", "bytes_ratio")}
                          for r in table.to_dict("records")}}
    for name, g in metrics["goals"].items():
        log.info("goal %s: %s", name, "met" if g["met"] else "NOT met")
    with stage.outputs() as out:
        out.text(stage.out("table.csv"), table.to_csv(index=False))
        out.text(stage.out("omitted.csv"), omitted.to_csv(index=False))
        out.text(stage.out("sparsity.csv"), sparsity.to_csv(index=False))
        out.json(stage.out("metrics.json"), metrics)
        out.figure(stage.out("tradeoff.png"), tradeoff_figure(table, sparsity, omitted, summary["classes"][k]))
    firsts = {"teacher": teacher}
    for name, fn in (*floats.items(), *((n, lambda z, m=m: run_quantized(m, z)) for n, m in int8.items())):
        firsts.setdefault(variant_of(name), fn)
    if section.evaluate.latency_repeats:
        write_run_record(stage.name, {"latency": latencies(firsts, x, repeats=section.evaluate.latency_repeats, calls=10)})


if __name__ == "__main__":
    run_stage(main)
