"""Stage `vit-evaluate`: the ViT and the CNN on the held-out test split.

Test accuracy of both with a bootstrap 95% interval (the test set resampled with replacement,
seeded), the ViT's per-class accuracy and confusion matrix, and both training curves side by side.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from stages.core.checkpoint import load_models
from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import setup_torch
from stages.vit.data import load_split, load_summary
from stages.vit.model import build_cnn, build_vit, count_parameters
from stages.vit.training import curves_figure, predict

log = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 1000


def bootstrap_accuracy(correct: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the accuracy over ``resamples`` resamples of the test set.

    Args:
        correct: (N,) booleans, one per test image.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(correct), size=(resamples, len(correct)))
    means = correct[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m


def scores(labels: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, float]:
    correct = labels == predicted
    low, high = bootstrap_accuracy(correct, BOOTSTRAP_RESAMPLES, seed)
    return {"test_accuracy": round(float(correct.mean()), 6), "test_accuracy_low": round(low, 6), "test_accuracy_high": round(high, 6)}


def confusion_figure(m: np.ndarray, classes: list[str], title: str):
    fig, ax = new_figure(figsize=(5, 4.4))
    im = ax.imshow(m, cmap="Blues")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticklabels(classes, fontsize=7)
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > m.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    common = load_common()
    device = setup_torch(common.seed, common.device)
    summary = load_summary(stage.dep("summary.json"))
    classes = summary["classes"]
    images, labels = load_split(stage.dep("test.npz"))
    (vit,), vit_ckpt = load_models(stage.dep("train/model.pt"), "vit", build_vit, ("net",), device)
    (cnn,), cnn_ckpt = load_models(stage.dep("cnn/model.pt"), "cnn", build_cnn, ("net",), device)
    vit_pred = predict(vit, images, vit_ckpt["model_args"]["preprocess"], device).argmax(1).numpy()
    cnn_pred = predict(cnn, images, cnn_ckpt["model_args"]["preprocess"], device).argmax(1).numpy()
    m = confusion(labels, vit_pred, len(classes))
    per_class = {c: round(float(m[i, i] / max(m[i].sum(), 1)), 6) for i, c in enumerate(classes)}
    metrics = {
        "n_test": int(len(labels)),
        "vit": {**scores(labels, vit_pred, common.seed), "parameters": count_parameters(vit)},
        "cnn": {**scores(labels, cnn_pred, common.seed), "parameters": count_parameters(cnn)},
        "vit_per_class": per_class,
    }
    frame = pd.DataFrame({"actual": [classes[i] for i in labels], "predicted": [classes[i] for i in vit_pred]})
    v, c = metrics["vit"], metrics["cnn"]
    curves = curves_figure({"ViT": vit_ckpt["history"], "CNN": cnn_ckpt["history"]})
    curves.suptitle(f"test accuracy: ViT {v['test_accuracy']:.3f} [{v['test_accuracy_low']:.3f}, {v['test_accuracy_high']:.3f}] "
                    f"({v['parameters']:,} params), CNN {c['test_accuracy']:.3f} [{c['test_accuracy_low']:.3f}, "
                    f"{c['test_accuracy_high']:.3f}] ({c['parameters']:,} params)", fontsize=8, y=1.02)
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("confusion.csv"), frame.to_csv(index=False))
        out.figure(stage.out("confusion.png"), confusion_figure(m, classes, f"ViT on {len(labels)} test images"))
        out.figure(stage.out("curves.png"), curves)
    log.info("test accuracy: ViT %.4f [%.4f, %.4f], CNN %.4f [%.4f, %.4f] on %d images", v["test_accuracy"], v["test_accuracy_low"],
             v["test_accuracy_high"], c["test_accuracy"], c["test_accuracy_low"], c["test_accuracy_high"], len(labels))


if __name__ == "__main__":
    run_stage(main)
