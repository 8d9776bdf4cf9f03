"""Stage `vit-evaluate`: the ViT from scratch, the CNN and (when `vit-finetune` fine-tuned one) the
pretrained ViT on the held-out test split.

Test accuracy of each with a bootstrap 95% interval (the test set resampled with replacement,
seeded), each ViT's per-class accuracy and confusion matrix, and the training curves side by side.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from stages.core.checkpoint import load_models
from stages.core.classify import bootstrap_accuracy, confusion_figure, confusion_matrix, predict
from stages.core.io import read_json
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.vit.data import load_split, load_summary, prepare_batch
from stages.vit.model import build_cnn, build_vit, count_parameters
from stages.vit.training import curves_figure

log = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 1000


def scores(labels: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, float]:
    correct = labels == predicted
    low, high = bootstrap_accuracy(correct, BOOTSTRAP_RESAMPLES, seed, draw="indices")
    return {"test_accuracy": round(float(correct.mean()), 6), "test_accuracy_low": round(low, 6), "test_accuracy_high": round(high, 6)}


def main(stage: Declared) -> None:
    common = load_common()
    device = setup_torch(common.seed, common.device)
    summary = load_summary(stage.dep("summary.json"))
    classes = summary["classes"]
    images, labels = load_split(stage.dep("test.npz"))
    nets = {"vit": ("ViT", stage.dep("train/model.pt"), "vit", build_vit), "cnn": ("CNN", stage.dep("cnn/model.pt"), "cnn", build_cnn)}
    finetuned = stage.dep("finetune") / "model.pt"
    if finetuned.exists():
        nets["finetune"] = ("ViT fine-tuned", finetuned, "vit", build_vit)
    else:
        log.info("no fine-tuned ViT (%s: %s)", stage.dep("finetune") / "source.json",
                 read_json(stage.dep("finetune") / "source.json").get("skipped", "no model.pt"))
    metrics: dict = {"n_test": int(len(labels))}
    histories, panels, predicted = {}, {}, {}
    for key, (name, path, kind, build) in nets.items():
        (net,), ckpt = load_models(path, kind, build, ("net",), device)
        pre = ckpt["model_args"]["preprocess"]
        predicted[key] = predict(net, images, device, prepare=lambda x, pre=pre: prepare_batch(x, pre)).argmax(1).numpy()
        metrics[key] = {**scores(labels, predicted[key], common.seed), "parameters": count_parameters(net)}
        histories[name] = ckpt["history"]
        if kind == "vit":
            m = panels[f"{name} on {len(labels)} test images"] = confusion_matrix(labels, predicted[key], len(classes))
            metrics[f"{key}_per_class"] = {c: round(float(m[i, i] / max(m[i].sum(), 1)), 6) for i, c in enumerate(classes)}
    frame = pd.DataFrame({"actual": [classes[i] for i in labels], "predicted": [classes[i] for i in predicted["vit"]]})
    curves = curves_figure(histories)
    summary_line = ", ".join(f"{nets[k][0]} {metrics[k]['test_accuracy']:.3f} [{metrics[k]['test_accuracy_low']:.3f}, "
                             f"{metrics[k]['test_accuracy_high']:.3f}] ({metrics[k]['parameters']:,} params)" for k in nets)
    curves.suptitle(f"test accuracy: {summary_line}", fontsize=8, y=1.02)
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("confusion.csv"), frame.to_csv(index=False))
        out.figure(stage.out("confusion.png"), confusion_figure(panels, classes))
        out.figure(stage.out("curves.png"), curves)
    log.info("test accuracy on %d images: %s", len(labels), summary_line)


if __name__ == "__main__":
    run_stage(main)
