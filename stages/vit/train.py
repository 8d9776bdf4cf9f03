"""Stage `vit-train`: the Vision Transformer of ``vit.model``, trained from scratch by ``vit.train``.

Training: the core Trainer with AdamW, a linear warm-up and a cosine decay per update, gradient
clipping, validation accuracy each epoch; a killed run resumes (same params and data). The
pretrained ViT is fine-tuned by `vit-finetune` (``stages/vit/finetune.py``) through the same
:func:`train_vit`.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import finish_training, setup_torch
from stages.vit import params
from stages.vit.data import check_input_side, load_summary, preprocess_args
from stages.vit.model import HEAD_PREFIX, Vit, VitConfig, count_parameters
from stages.vit.params import ModelParams, OptimParams
from stages.vit.training import curves_figure, train_classifier

log = logging.getLogger(__name__)


def vit_config(m: ModelParams, summary: dict, pretrained: bool) -> VitConfig:
    """The network's config: the params' shape, channels and classes from the data (3 channels for pretrained weights)."""
    return VitConfig(in_channels=3 if pretrained else int(summary["channels"]), num_classes=len(summary["classes"]),
                     emb_dim=m.emb_dim, num_patch_row=m.num_patch_row, image_size=m.image_size, num_blocks=m.num_blocks,
                     head=m.head, hidden_dim=m.hidden_dim, dropout=m.dropout, qkv_bias=m.qkv_bias, ln_eps=m.ln_eps)


def param_groups(net: Vit, lr: float, backbone_scale: float | None) -> list[dict]:
    """One group at ``lr`` from scratch (``backbone_scale`` None); fine-tuning, the backbone at
    ``lr * backbone_scale`` and the new classifier at ``lr``."""
    if backbone_scale is None:
        return [{"params": list(net.parameters()), "lr": lr}]
    head = [p for n, p in net.named_parameters() if n.startswith(HEAD_PREFIX)]
    body = [p for n, p in net.named_parameters() if not n.startswith(HEAD_PREFIX)]
    return [{"params": body, "lr": lr * backbone_scale}, {"params": head, "lr": lr}]


def train_vit(stage: Declared, m: ModelParams, p: OptimParams, *, paths: dict[str, Any],
              init: Callable[[Vit], None] | None = None, backbone_scale: float | None = None,
              key: dict | None = None, extra: dict | None = None,
              outputs: Callable[[], contextlib.AbstractContextManager] | None = None) -> None:
    """Train the ViT of shape ``m`` by ``p`` on the stage's split and write its outputs.

    Args:
        paths: the declared ``model``, ``history``, ``metrics`` and ``curves`` paths.
        init: loads pretrained weights into a freshly built network (None: from scratch).
        backbone_scale: with ``init``, the backbone's lr as a fraction of ``p.lr``.
        key: more of what identifies the run (the weights' digest), for resuming.
        extra: more metrics.
        outputs: the atomic-output context to write through (default: the stage's).
    """
    common = load_common()
    summary = load_summary(stage.dep("summary.json"))
    pretrained = init is not None
    cfg = vit_config(m, summary, pretrained)
    pre = preprocess_args(summary, cfg.image_size, pretrained)
    check_input_side(int(summary["image_px"]), cfg.image_size, stage.name)
    device = setup_torch(common.seed, common.device)

    def build():
        net = Vit(cfg)
        if init is not None:
            init(net)
        return net, param_groups(net, p.lr, backbone_scale)

    trainer = train_classifier(stage.name, "vit", build, p, pre, {"vit": cfg.as_dict(), "preprocess": pre},
                               stage.dep("train.npz"), stage.dep("val.npz"), seed=common.seed, device=device,
                               extra_key=key)
    finish_training(stage.name, trainer, outputs=outputs or stage.outputs, model=paths["model"], history=paths["history"],
                    metrics=paths["metrics"],
                    extra={"parameters": count_parameters(trainer.models["net"]), "n_train": sum(summary["counts"]["train"]),
                           "patch_size": cfg.patch_size, "tokens": cfg.num_patch_row ** 2 + 1, "device": device.type,
                           **(extra or {})},
                    figures={paths["curves"]: curves_figure({"ViT": trainer.history})})


def main(stage: Declared) -> None:
    vp = params.load()
    train_vit(stage, vp.model, vp.train, paths={"model": stage.out("model.pt"), "history": stage.out("history.csv"),
                                                "metrics": stage.out("metrics.json"), "curves": stage.out("curves.png")})


if __name__ == "__main__":
    run_stage(main)
