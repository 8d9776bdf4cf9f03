"""Stage `represent-probe`: every encoder judged the same way on the test views, beside two
baselines that learned nothing: raw pixels and the same encoder at its random initialisation.

For each run (every method under every seed, and the random-init encoder under the same seeds):
- **retrieval** in its embedding: Recall@1 and MAP@R, leave-one-out over the test views
  (``stages/represent/retrieval.py``); Recall@1 in its representation too;
- **linear probe** on its representation at each of ``label_fractions`` of the training labels
  (the first ``views_per_image`` views of each labelled image; the mean over ``subsets`` random
  draws below 100%);
- a 2-D **t-SNE** (scikit-learn, 500 iterations) of the test embedding of each method's first seed,
  of the first random-init encoder and of the raw pixels.

Outputs: ``table.csv`` (one row per method: the mean, min and max over its seeds), ``probe.csv``
(accuracy against label fraction, a DVC plot), ``metrics.json`` (every run's numbers and the
issue's goals, each ``{"met": bool, ...}``), ``tsne.png`` and ``probe.png``.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.side_by_side import over_seeds, variant_of
from stages.core.stage import Declared
from stages.represent import params
from stages.represent.data import Standardise, load_test, load_train, read_summary
from stages.represent.methods import METHODS
from stages.represent.nets import build, load_encoders
from stages.represent.retrieval import linear_probe, map_at_r, recall_at_1

log = logging.getLogger(__name__)
BASELINES = ("pixels", "random")


def features(net, images, standardise: Standardise, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, representations) of uint8 ``images`` (N, C, S, S) as float64 arrays; ``net=None``: the pixels."""
    import torch

    x = torch.from_numpy(images)
    if net is None:
        flat = standardise(x).flatten(1).double().numpy()
        return flat, flat
    emb, rep = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            r = net.represent(standardise(x[i:i + batch_size]))
            rep.append(r.double().numpy())
            emb.append(net.head(r).double().numpy())
    return np.concatenate(emb), np.concatenate(rep)


def judge(net, train_views, train_labels, test, test_labels, standardise: Standardise, p, seed: int) -> tuple[dict[str, float], np.ndarray]:
    """One run's numbers (see the module docstring) and its test embedding."""
    emb, rep = features(net, test, standardise)
    train_views = train_views[:, :p.views_per_image]  # the views the probe is fitted on
    n, v = train_views.shape[:2]
    _, train_rep = features(net, train_views.reshape(n * v, *train_views.shape[2:]), standardise)
    out = {"r_at_1": recall_at_1(emb, test_labels), "map_at_r": map_at_r(emb, test_labels),
           "r_at_1_representation": recall_at_1(rep, test_labels)}
    for f in p.label_fractions:
        out[f"probe_{f:g}"] = linear_probe(train_rep.reshape(n, v, -1), train_labels, rep, test_labels, f, p.subsets, seed)
    return out, emb


def table_rows(runs: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per variant: each number's mean over its seeds, with R@1's min and max."""
    rows = []
    for variant in dict.fromkeys(variant_of(r) for r in runs):
        mine = {r: v for r, v in runs.items() if variant_of(r) == variant}
        row: dict[str, Any] = {"model": variant, "seeds": len(mine)}
        for key in next(iter(mine.values())):
            s = over_seeds({r: v[key] for r, v in mine.items()})[variant]
            row[key] = round(s["mean"], 6)
            if key == "r_at_1":
                row["r_at_1_min"], row["r_at_1_max"] = round(s["min"], 6), round(s["max"], 6)
        rows.append(row)
    return pd.DataFrame(rows)


def goals(runs: dict[str, dict[str, float]], fractions: list[float]) -> dict[str, dict[str, Any]]:
    """The issue's goals, each ``{"met": bool, ...the values it was judged on}``."""
    def of(variant: str, key: str) -> list[float]:
        return [round(v[key], 6) for r, v in runs.items() if variant_of(r) == variant]

    pixels = runs["pixels"]["r_at_1"]
    metric = {m: of(m, "r_at_1") for m in ("contrastive", "triplet")}
    low = f"probe_{min(fractions):g}"
    simclr, random = of("simclr", low), of("random", low)
    floor = max(runs["pixels"][low], float(np.mean(random)) + 0.10)
    return {
        "metric_learning_r_at_1": {"met": all(r >= 0.90 for rs in metric.values() for r in rs), **metric,
                                   "pixels": round(pixels, 6), "goal": "contrastive and triplet R@1 ≥ 0.90 on every seed (raw pixels for scale)"},
        "simclr_probe_few_labels": {"met": bool(simclr) and min(simclr) >= floor, "label_fraction": min(fractions), "simclr": simclr,
                                    "pixels": round(runs["pixels"][low], 6), "random_init": random,
                                    "goal": "SimCLR's linear probe at the fewest labels ≥ raw pixels and ≥ the random-init encoder's mean + 10 points, every seed"},
    }


def tsne_figure(embeddings: dict[str, np.ndarray], labels: np.ndarray, perplexity: float, seed: int):
    """One t-SNE panel per embedding, points coloured by class."""
    from sklearn.manifold import TSNE

    fig, axes = new_figure(1, len(embeddings), figsize=(3.2 * len(embeddings), 3.4), squeeze=False)
    for ax, (name, e) in zip(axes[0], embeddings.items()):
        xy = TSNE(2, perplexity=min(perplexity, (len(e) - 1) / 3), init="pca", max_iter=500, random_state=seed).fit_transform(e)
        ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, vmin=0, vmax=9)
        ax.set_title(name), ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle("t-SNE of the test views' embeddings (first seed; colour: class)", y=1.04)
    return fig


def probe_figure(table: pd.DataFrame, probe: pd.DataFrame):
    """R@1 per model (bars, with the range over seeds) and the linear probe against label fraction."""
    fig, (left, right) = new_figure(1, 2, figsize=(10, 3.8))
    t = table.set_index("model")
    err = np.vstack([t["r_at_1"] - t["r_at_1_min"], t["r_at_1_max"] - t["r_at_1"]]).clip(0)
    left.bar(t.index, t["r_at_1"], yerr=err, color="tab:blue", capsize=3)
    left.axhline(0.90, color="gray", ls="--", lw=1, label="goal 0.90")
    left.set_ylabel("Recall@1 (test views; bars: range over seeds)"), left.set_ylim(0, 1), left.legend(loc="upper left", fontsize=8)
    left.tick_params(axis="x", labelrotation=30)
    for model, g in probe.groupby("model", sort=False):
        right.plot(g["label_fraction"] * 100, g["accuracy"], marker="o", label=model)
    right.set_xscale("log"), right.set_xlabel("% of training labels"), right.set_ylabel("linear-probe accuracy")
    right.set_ylim(0, 1), right.legend(fontsize=8)
    return fig


def main(stage: Declared) -> None:
    import torch

    section, common = params.load(), load_common()
    p = section.probe
    summary = read_summary(stage.dep("summary.json"))
    standardise = Standardise(summary)
    train_views, train_labels = load_train(stage.dep("train.npz"))
    test, test_labels = load_test(stage.dep("test.npz"))
    encoders = {m: load_encoders(stage.dep(f"{m}/model.pt")) for m in METHODS}
    runs: dict[str, dict[str, float]] = {}
    firsts: dict[str, np.ndarray] = {}
    runs["pixels"], firsts["pixels"] = judge(None, train_views, train_labels, test, test_labels, standardise, p, common.seed)
    for name, net in encoders[METHODS[0]].items():  # the random-init twin of each seed: same encoder, no training
        seed = int(name.rsplit("_seed", 1)[1])
        torch.manual_seed(seed)
        twin = build({**net.args, "classes": None}).eval()
        runs[f"random_seed{seed}"], emb = judge(twin, train_views, train_labels, test, test_labels, standardise, p, common.seed)
        firsts.setdefault("random", emb)
    for method, nets in encoders.items():
        for name, net in nets.items():
            runs[name], emb = judge(net, train_views, train_labels, test, test_labels, standardise, p, common.seed)
            firsts.setdefault(method, emb)
            log.info("%s: R@1 %.3f, MAP@R %.3f, probe %s", name, runs[name]["r_at_1"], runs[name]["map_at_r"],
                     ", ".join(f"{k[6:]}: {v:.3f}" for k, v in runs[name].items() if k.startswith("probe_")))
    table = table_rows(runs)
    probe = pd.DataFrame([{"model": row["model"], "label_fraction": f, "accuracy": row[f"probe_{f:g}"]}
                          for _, row in table.iterrows() for f in p.label_fractions])
    metrics = {"runs": runs, "goals": goals(runs, p.label_fractions),
               **{f"{m}_r_at_1": float(table.set_index("model").loc[m, "r_at_1"]) for m in (*BASELINES, *METHODS)}}
    with stage.outputs() as out:
        out.text(stage.out("table.csv"), table.to_csv(index=False))
        out.text(stage.out("probe.csv"), probe.to_csv(index=False))
        out.json(stage.out("metrics.json"), metrics)
        out.figure(stage.out("tsne.png"), tsne_figure(firsts, test_labels, p.tsne_perplexity, common.seed))
        out.figure(stage.out("probe.png"), probe_figure(table, probe))
    for name, g in metrics["goals"].items():
        log.info("goal %s: %s", name, "met" if g["met"] else "NOT met")


if __name__ == "__main__":
    run_stage(main)
