"""Stage `vit-cnn-train`: the baseline, a small CNN trained on the same split with the same recipe
(AdamW, warm-up + cosine, clipping) as the ViT, for the comparison in `vit-evaluate`.

Its width (``vit.cnn.channels``) is chosen so that its parameter count is close to the default ViT's:
the comparison then asks what the architecture does with the same budget on little data. A CNN
builds in locality and translation equivariance; a ViT has to learn them from the data.
"""
from __future__ import annotations

import logging

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.vit import params
from stages.vit.data import load_summary, preprocess_args
from stages.vit.model import SmallCnn, count_parameters
from stages.vit.training import curves_figure, train_classifier

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    cnn_params = params.load().cnn
    summary = load_summary(stage.dep("summary.json"))
    pre = preprocess_args(summary, int(summary["image_px"]), pretrained=False)  # the CNN takes the stored size
    args = {"in_channels": int(summary["channels"]), "num_classes": len(summary["classes"]), "channels": cnn_params.channels}
    run = TrainingRun(stage, cnn_params, kind="cnn")

    trainer = train_classifier(run, lambda: SmallCnn(**args), pre, {"cnn": args, "preprocess": pre}, stage.dep("train.npz"), stage.dep("val.npz"))
    run.finish(extra={"parameters": count_parameters(trainer.models["net"]), "device": run.device.type},
               figures={"curves.png": curves_figure({"CNN": trainer.history})})


if __name__ == "__main__":
    run_stage(main)
