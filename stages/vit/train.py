"""Stage `vit-train`: the Vision Transformer, from scratch or fine-tuned from pretrained weights.

``vit.model.weights.source``:
- ``none``: every weight starts from its initialisation; AdamW at ``vit.train.lr``.
- ``url`` / ``path``: pretrained weights (torchvision's ``vit_b_16`` in the course profile, or a
  state dict in this model's own keys), verified by sha256 (torchvision's 8-digit prefix will do)
  before ``torch.load(weights_only=True)`` reads them, renamed to this ViT's keys, and checked key
  by key and shape by shape against the configured architecture: a file for another architecture is
  one error naming the keys. The classifier is replaced for this dataset's classes and trains at
  ``lr``; the backbone at ``lr * backbone_lr_scale``. The verified file is copied into the stage's
  ``pretrained`` output (DVC-tracked, so the weights a model came from are cached and pushed).

Training: the core Trainer with AdamW, a linear warm-up and a cosine decay per update, gradient
clipping, validation accuracy each epoch; a killed run resumes (same params and data).
"""
from __future__ import annotations

import contextlib
import json
import logging
import shutil

import torch

from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import finish_training, setup_torch
from stages.core.weights import fetch_weights, load_state_dict
from stages.vit import params
from stages.vit.data import check_input_side, load_summary, preprocess_args
from stages.vit.model import HEAD_PREFIX, Vit, VitConfig, count_parameters, load_backbone
from stages.vit.params import ModelParams
from stages.vit.training import curves_figure, train_classifier

log = logging.getLogger(__name__)


def vit_config(m: ModelParams, summary: dict) -> VitConfig:
    """The network's config: the params' shape, channels and classes from the data (3 channels for pretrained weights)."""
    pretrained = m.weights.source != "none"
    return VitConfig(in_channels=3 if pretrained else int(summary["channels"]), num_classes=len(summary["classes"]),
                     emb_dim=m.emb_dim, num_patch_row=m.num_patch_row, image_size=m.image_size, num_blocks=m.num_blocks,
                     head=m.head, hidden_dim=m.hidden_dim, dropout=m.dropout, qkv_bias=m.qkv_bias, ln_eps=m.ln_eps)


def param_groups(net: Vit, lr: float, backbone_scale: float, pretrained: bool) -> list[dict]:
    """One group at ``lr`` from scratch; with pretrained weights the backbone at ``lr * backbone_scale``
    and the new classifier at ``lr``."""
    if not pretrained:
        return [{"params": list(net.parameters()), "lr": lr}]
    head = [p for n, p in net.named_parameters() if n.startswith(HEAD_PREFIX)]
    body = [p for n, p in net.named_parameters() if not n.startswith(HEAD_PREFIX)]
    return [{"params": body, "lr": lr * backbone_scale}, {"params": head, "lr": lr}]


def main(stage: Declared) -> None:
    vp, common = params.load(), load_common()
    m, p = vp.model, vp.train
    summary = load_summary(stage.dep("summary.json"))
    pretrained = m.weights.source != "none"
    cfg = vit_config(m, summary)
    pre = preprocess_args(summary, cfg.image_size, pretrained)
    check_input_side(int(summary["image_px"]), cfg.image_size, "vit-train")
    weights_path, state, digest = None, None, None
    if pretrained:
        weights_path = fetch_weights(m.weights)
        state = load_state_dict(weights_path, m.weights.sha256)
        digest = sha256_file(weights_path)
    device = setup_torch(common.seed, common.device)

    def build():
        net = Vit(cfg)
        if state is not None:
            loaded = load_backbone(net, state, str(weights_path))
            log.info("%s: %d pretrained tensors loaded; new %d-class head", weights_path, loaded, cfg.num_classes)
        return net, param_groups(net, p.lr, p.backbone_lr_scale, pretrained)

    trainer = train_classifier(stage.name, "vit", build, p, pre, {"vit": cfg.as_dict(), "preprocess": pre},
                               stage.dep("train.npz"), stage.dep("val.npz"), seed=common.seed, device=device,
                               extra_key={"weights": digest})
    net = trainer.models["net"]
    source = {"source": m.weights.source, "url": m.weights.url, "sha256": digest,
              "file": weights_path.name if weights_path else None}

    @contextlib.contextmanager
    def outputs():
        with stage.outputs() as out:
            folder = out.dir(stage.out("pretrained"))
            (folder / "source.json").write_text(json.dumps(source, indent=2) + "\n")
            if weights_path is not None:
                shutil.copyfile(weights_path, folder / weights_path.name)
            yield out

    finish_training(stage.name, trainer, outputs=outputs, model=stage.out("model.pt"), history=stage.out("history.csv"),
                    metrics=stage.out("metrics.json"),
                    extra={"parameters": count_parameters(net), "pretrained": m.weights.source, "n_train": sum(summary["counts"]["train"]),
                           "patch_size": cfg.patch_size, "tokens": cfg.num_patch_row ** 2 + 1, "device": device.type},
                    figures={stage.out("curves.png"): curves_figure({"ViT": trainer.history})})


if __name__ == "__main__":
    run_stage(main)
