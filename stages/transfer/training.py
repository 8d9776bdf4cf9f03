"""What the transfer pipeline's training stages share: the target data, the backbone, the trainer.

The three target runs — from scratch, transfer learning (frozen backbone, new head) and fine-tuning
(every layer, one learning rate per group) — differ only in their initial weights and their
parameter groups; the split, the epochs, the batches and the seed are the same
(``transfer.train``), so their validation accuracies compare the initialisations alone.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from stages.core.checkpoint import load_models
from stages.core.errors import DataError
from stages.core.io import read_json
from stages.core.stage import Declared
from stages.core.batches import TensorData
from stages.core.classify import Classification
from stages.core.trainer import Trainer
from stages.core.training import TrainingRun
from stages.core.weights import load_pretrained
from stages.transfer import params
from stages.transfer.images import ImageSet, load_split, make_transforms, stack
from stages.transfer.nets import ARCHS, build, param_groups
from stages.transfer.params import ModelParams, TransformParams

log = logging.getLogger(__name__)

KIND = "transfer"  # checkpoint kind of every trained classifier here
VARIANTS = ("scratch", "transfer", "finetune")


def model_args(model_params: ModelParams, classes: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The config a network is rebuilt from (stored in checkpoints)."""
    return {"arch": model_params.arch, "num_classes": len(classes), "width": model_params.width, "hidden": model_params.hidden,
            "classes": list(classes)}


def load_target(root: Path, transform_params: TransformParams):
    """The target's training set (randomly transformed per access) and validation tensors.

    Returns:
        (classes, train ImageSet, val TensorData of (images (N, 3, S, S), labels (N,)), val file names)
    """
    train_tf, val_tf = make_transforms(transform_params)
    images, labels, _, classes = load_split(root, "train")
    val_images, val_labels, names, _ = load_split(root, "val")
    val = TensorData(stack(val_images, val_tf), torch.tensor(val_labels))  # deterministic: transformed once
    return classes, ImageSet(images, labels, train_tf), val, names


def load_backbone(net: torch.nn.Module, arch: str, weights: Path, meta: Path) -> torch.nn.Module:
    """Load the pretrained backbone (``transfer-pretrain``'s output) into ``net``, head left out.

    The file's sha256 (recorded beside it) is checked before it is read, its keys and shapes before
    anything is loaded (:func:`stages.core.weights.load_pretrained`).

    Raises:
        DataError: the backbone is of another architecture. IntegrityError: its checksum differs.
    """
    info = read_json(meta)
    if info.get("arch") != arch:
        raise DataError(f"{meta}: the backbone is a {info.get('arch')!r}, transfer.model.arch is {arch!r}; rerun transfer-pretrain")
    return load_pretrained(net, weights, sha256=info["sha256"], skip=(ARCHS[arch].head,))


def lrs_of(variant: str, transfer_params: params.TransferParams) -> dict[str, float]:
    """Learning rate per parameter group; groups left out are frozen."""
    if variant == "scratch":
        return {g: transfer_params.train.lr_of("scratch") for g in ("features", "hidden", "head")}
    if variant == "transfer":  # the backbone's convolutions frozen; the course trains classifier.6 alone
        return {g: transfer_params.train.lr_of("transfer") for g in transfer_params.train.transfer_trains}
    return {"features": transfer_params.finetune.lr_features, "hidden": transfer_params.finetune.lr_hidden,
            "head": transfer_params.finetune.lr_head}


def train_net(run: TrainingRun, build_net, lrs: dict[str, float], arch: str, args: dict, train, val, *,
              inputs: dict, key: dict | None = None, params: dict | None = None) -> Trainer:
    """Train the classifier ``build_net()`` makes (after seeding) by ``run.recipe``: one SGD over the
    parameter groups ``lrs`` names (the others frozen), validating every ``validate_every`` epochs."""
    return run.fit(models=lambda: {"net": build_net()}, model_args=args,
                   objective=lambda nets: Classification(nets["net"], step="sgd"),
                   optimizers=lambda nets: {"sgd": run.recipe.optimizer_for(param_groups(nets["net"], arch, lrs))},
                   data=train, val=val, val_step=lambda nets: Classification(nets["net"], step="sgd").validate,
                   inputs=inputs, key=key, params=params)


def train_target(stage: Declared, variant: str, *, target: Path, backbone: tuple[Path, Path] | None) -> None:
    """The whole of a target stage (``transfer-scratch``, ``-train``, ``-finetune``): build, load, train, write.

    Args:
        stage: the stage's declaration (its name and outputs: ``model.pt``, ``history.csv``, ``metrics.json``).
        variant: ``scratch``, ``transfer`` or ``finetune``.
        target: the target ImageFolder (``transfer-data``'s output).
        backbone: the pretrained ``backbone.pth`` and its ``backbone.json``; None for scratch.
    """
    assert variant in VARIANTS and (backbone is None) == (variant == "scratch"), variant
    transfer_params = params.load()
    run = TrainingRun(stage, transfer_params.train, kind=KIND)
    classes, train, val, _ = load_target(target, transfer_params.transform)
    args = {**model_args(transfer_params.model, classes), "variant": variant}
    inputs = {"target": target, **({"backbone": backbone[0]} if variant != "scratch" else {})}
    lrs = lrs_of(variant, transfer_params)

    def build_net() -> torch.nn.Module:
        net = build(args)  # seeded by TrainingRun: the same head init for the three variants
        if variant != "scratch":
            load_backbone(net, transfer_params.model.arch, *backbone)
        return net

    read = {"model", "transform", "train"} | ({"finetune"} if variant == "finetune" else set())  # the keys dvc.yaml lists
    section = {"variant": variant, "model": transfer_params.model.model_dump(mode="json"),
               "transform": transfer_params.transform.model_dump(mode="json"),
               "train": transfer_params.train.model_dump(mode="json"), "lrs": lrs}
    trainer = train_net(run, build_net, lrs, transfer_params.model.arch, args, train, val, inputs=inputs, params=section,
                        key={"variant": variant, **transfer_params.model_dump(mode="json", include=read)})
    trainable = sum(q.numel() for q in trainer.models["net"].parameters() if q.requires_grad)
    run.finish(extra={"variant": variant, "n_train": len(train), "n_val": len(val), "classes": list(classes),
                      "trainable_parameters": trainable, "device": run.device.type})


def load_classifier(path: Path, device) -> tuple[torch.nn.Module, dict]:
    """A trained target classifier (eval mode, frozen) and its checkpoint, on ``device`` (``map_location``)."""
    (net,), ckpt = load_models(path, KIND, lambda a: [build(a)], ("net",), device)
    return net, ckpt
