"""What the ViT and CNN training stages share: training either network (core's classification
objective and validation step) on the core training stage (the recipe's AdamW, warm-up + cosine, clipping),
and the whole ViT training run of `vit-train` (from scratch) and `vit-finetune` (from pretrained weights)."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stages.core.batches import TensorData
from stages.core.classify import Classification
from stages.core.trainer import Trainer
from stages.core.training import TrainingRun
from stages.vit.data import check_input_side, load_split, load_summary, prepare_batch, preprocess_args
from stages.vit.model import HEAD_PREFIX, Vit, VitConfig, count_parameters
from stages.vit.params import ModelParams, OptimParams

if TYPE_CHECKING:
    from stages.core.stage import Declared


def train_classifier(run: TrainingRun, build: Callable[[], nn.Module], pre: dict[str, Any], model_args: dict,
                     train_path: Path, val_path: Path, *, backbone_scale: float | None = None,
                     key: dict | None = None) -> Trainer:
    """Train the network ``build()`` makes by ``run.recipe`` on ``train_path``, validating on
    ``val_path`` every epoch (``backbone_scale``: see :func:`param_groups`)."""
    train_x, train_y = load_split(train_path)
    val_x, val_y = load_split(val_path)
    train = TensorData(torch.from_numpy(train_x), torch.from_numpy(train_y))
    val = TensorData(torch.from_numpy(val_x), torch.from_numpy(val_y))
    return run.fit(**classifier_parts(build, pre, run.recipe, backbone_scale), model_args=model_args, data=train, val=val,
                   inputs={"train": train_path, "val": val_path}, key={"model_args": model_args, **(key or {})})


def classifier_parts(build: Callable[[], nn.Module], pre: dict[str, Any], recipe: OptimParams,
                     backbone_scale: float | None = None) -> dict:
    """What a classifier's run declares: the network ``build()`` makes, the recipe's optimizer over its
    param groups (:func:`param_groups`), the cross-entropy objective and the validation step."""

    def prepare(x):
        return prepare_batch(x, pre)

    return {"models": lambda: {"net": build()},
            "objective": lambda nets: Classification(nets["net"], prepare=prepare, label_smoothing=recipe.label_smoothing),
            "optimizers": lambda nets: {"net": recipe.optimizer_for(param_groups(nets["net"], recipe.lr, backbone_scale))},
            "val_step": lambda nets: Classification(nets["net"], prepare=prepare).validate}


def vit_config(model_params: ModelParams, summary: dict, pretrained: bool) -> VitConfig:
    """The network's config: the params' shape, channels and classes from the data (3 channels for pretrained weights)."""
    return VitConfig(in_channels=3 if pretrained else int(summary["channels"]), num_classes=len(summary["classes"]),
                     emb_dim=model_params.emb_dim, num_patch_row=model_params.num_patch_row, image_size=model_params.image_size,
                     num_blocks=model_params.num_blocks, head=model_params.head, hidden_dim=model_params.hidden_dim,
                     dropout=model_params.dropout, qkv_bias=model_params.qkv_bias, ln_eps=model_params.ln_eps)


def param_groups(net: nn.Module, lr: float, backbone_scale: float | None) -> list[dict]:
    """One group at ``lr`` from scratch (``backbone_scale`` None); fine-tuning, the backbone at
    ``lr * backbone_scale`` and the new classifier at ``lr``."""
    if backbone_scale is None:
        return [{"params": list(net.parameters()), "lr": lr}]
    head = [p for n, p in net.named_parameters() if n.startswith(HEAD_PREFIX)]
    body = [p for n, p in net.named_parameters() if not n.startswith(HEAD_PREFIX)]
    return [{"params": body, "lr": lr * backbone_scale}, {"params": head, "lr": lr}]


def train_vit(stage: Declared, model_params: ModelParams, optim_params: OptimParams, *, paths: dict[str, Any],
              init: Callable[[Vit], None] | None = None, backbone_scale: float | None = None,
              key: dict | None = None, extra: dict | None = None,
              outputs: Callable[[], contextlib.AbstractContextManager] | None = None) -> None:
    """Train the ViT of shape ``model_params`` by ``optim_params`` on the stage's split and write its outputs.

    Args:
        paths: the declared ``model``, ``history``, ``metrics`` and ``curves`` paths.
        init: loads pretrained weights into a freshly built network (None: from scratch).
        backbone_scale: with ``init``, the backbone's lr as a fraction of ``optim_params.lr``.
        key: more of what identifies the run (the weights' digest), for resuming.
        extra: more metrics.
        outputs: the atomic-output context to write through (default: the stage's).
    """
    summary = load_summary(stage.dep("summary.json"))
    pretrained = init is not None
    cfg = vit_config(model_params, summary, pretrained)
    pre = preprocess_args(summary, cfg.image_size, pretrained)
    check_input_side(int(summary["image_px"]), cfg.image_size, stage.name)
    run = TrainingRun(stage, optim_params, kind="vit")

    def build() -> Vit:
        net = Vit(cfg)
        if init is not None:
            init(net)
        return net

    trainer = train_classifier(run, build, pre, {"vit": cfg.as_dict(), "preprocess": pre}, stage.dep("train.npz"),
                               stage.dep("val.npz"), backbone_scale=backbone_scale, key=key)
    run.finish(outputs=outputs, model=paths["model"], history=paths["history"], metrics=paths["metrics"],
               extra={"parameters": count_parameters(trainer.models["net"]), "n_train": sum(summary["counts"]["train"]),
                      "patch_size": cfg.patch_size, "tokens": cfg.num_patch_row ** 2 + 1, "device": run.device.type,
                      **(extra or {})},
               figures={paths["curves"]: curves_figure({"ViT": trainer.history})})


def curves_figure(histories: dict[str, list[dict]]):
    """Training loss and validation accuracy per epoch, one line per network."""
    from stages.core.figures import new_figure

    fig, (ax_loss, ax_acc) = new_figure(1, 2, figsize=(9, 3.2))
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["loss_net"] for r in rows], label=f"{name} train")
        if "val_loss" in rows[-1]:
            ax_loss.plot(epochs, [r.get("val_loss", float("nan")) for r in rows], "--", label=f"{name} val")
            ax_acc.plot(epochs, [r.get("val_accuracy", float("nan")) for r in rows], label=name)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    ax_loss.legend(fontsize=7)
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    return fig
