"""Stage `transfer-evaluate`: the three target models compared on the same validation images.

For each of scratch, transfer learning and fine-tuning: accuracy and per-class accuracy on the
validation split, and its confusion matrix; ``metrics.json`` holds the comparison table and the
gains over scratch (the number that says the pretrained backbone is worth caching).
``confusion.csv`` (the fine-tuned model's, a ``dvc plots`` confusion matrix), ``confusion.png``
(all three) and ``curves.png`` (training loss and validation accuracy per epoch, from each stage's
history) are the figures.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from stages.core.classify import confusion_figure, confusion_matrix, predict
from stages.core.errors import DataError
from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import resolve_device, run_stage
from stages.core.stage import Declared
from stages.transfer import params
from stages.transfer.images import load_split, make_transforms, stack
from stages.transfer.training import VARIANTS, load_classifier

log = logging.getLogger(__name__)

STAGE_OF = {"scratch": "scratch", "transfer": "train", "finetune": "finetune"}  # variant -> output folder


def scores(y: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: actual, columns: predicted)."""
    cm = confusion_matrix(y, predicted, len(classes))
    per_class = {c: float(cm[i, i] / cm[i].sum()) if cm[i].sum() else float("nan") for i, c in enumerate(classes)}
    return {"val_accuracy": float(np.mean(y == predicted)), "per_class": per_class, "confusion": cm.tolist()}


def comparison(results: dict[str, dict]) -> dict:
    """The table of ``metrics.json``: each variant's accuracy and per-class accuracy, gains over scratch."""
    table = {v: {"val_accuracy": r["val_accuracy"], "per_class": r["per_class"]} for v, r in results.items()}
    base = results["scratch"]["val_accuracy"]
    return {"comparison": table, "transfer_gain": results["transfer"]["val_accuracy"] - base,
            "finetune_gain": results["finetune"]["val_accuracy"] - base, "val_accuracy": results["finetune"]["val_accuracy"]}


def curves_figure(histories: dict[str, pd.DataFrame]):
    fig, (loss_ax, acc_ax) = new_figure(1, 2, figsize=(9, 3.3))
    for variant, h in histories.items():
        loss_ax.plot(h["epoch"], h["loss_sgd"], label=f"{variant} (train)")
        if "val_loss" in h:
            v = h.dropna(subset=["val_loss"])
            loss_ax.plot(v["epoch"], v["val_loss"], "--", label=f"{variant} (val)")
            acc_ax.plot(v["epoch"], v["val_accuracy"], marker=".", label=variant)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy", ylim=(0, 1.02))
    loss_ax.legend(fontsize=7)
    acc_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    transfer_params, common = params.load(), load_common()
    device = torch.device(resolve_device(common.device))
    images, labels, _, classes = load_split(stage.dep("target"), "val")
    x, y = stack(images, make_transforms(transfer_params.transform)[1]), np.array(labels)
    results, histories, predictions = {}, {}, {}
    for variant in VARIANTS:
        folder = STAGE_OF[variant]
        net, ckpt = load_classifier(stage.dep(f"{folder}/model.pt"), device)
        if ckpt["model_args"]["classes"] != list(classes):
            raise DataError(f"{stage.dep(f'{folder}/model.pt')}: trained on classes {ckpt['model_args']['classes']}, "
                            f"the validation folder holds {list(classes)}; rerun transfer-{folder}")
        predicted = predict(net, x, device, probabilities=True).argmax(1).numpy()
        predictions[variant] = predicted
        results[variant] = scores(y, predicted, list(classes))
        histories[variant] = pd.read_csv(stage.dep(f"{folder}/history.csv"))
    metrics = {"n_val": len(y), "classes": list(classes), **comparison(results)}
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("confusion.csv"), pd.DataFrame({
            "actual": [classes[i] for i in y],
            "predicted": [classes[i] for i in predictions["finetune"]]}).to_csv(index=False))
        out.figure(stage.out("confusion.png"), confusion_figure(
            {f"{v}: {r['val_accuracy']:.3f}": np.array(r["confusion"]) for v, r in results.items()}, list(classes)))
        out.figure(stage.out("curves.png"), curves_figure(histories))
    log.info("validation accuracy on %d images: %s", len(y),
             ", ".join(f"{v} {r['val_accuracy']:.3f}" for v, r in results.items()))


if __name__ == "__main__":
    run_stage(main)
