"""The encoder every method of the ``represent`` pipeline trains, and its checkpoints.

An encoder is a **backbone** (its output is the *representation*, what the linear probe reads) and
a two-layer **projection head** (its output, L2-normalised, is the *embedding*, what the metric
losses shape and retrieval searches), as in SimCLR (Chen et al. 2020, §2.1), who found the
representation before the head the better one for downstream classifiers. The supervised reference
adds a linear classifier on the embedding. Backbones:

- ``cnn``: three blocks (conv 3x3 + BN + ReLU) of ``width``, ``2·width`` and ``4·width`` channels,
  max-pooling 2 after the first two, then global average pooling: a ``4·width`` representation;
- ``resnet18``: torchvision's ResNet-18 without its classifier (512-d; for one-channel images the
  first conv takes one channel).
"""
from __future__ import annotations

from typing import Any

KIND = "represent-encoder"  # the checkpoint's kind
ARCHS = ("cnn", "resnet18")


def encoder_args(arch: str, width: int, dim: int, in_channels: int, classes: int | None = None) -> dict[str, Any]:
    """An encoder's ``model_args`` (what :func:`build` takes); ``classes``: the supervised classifier's outputs."""
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; known: {', '.join(ARCHS)}")
    if width < 1 or dim < 1 or in_channels < 1 or (classes is not None and classes < 2):
        raise ValueError(f"width, dim and in_channels must be ≥ 1 and classes ≥ 2: got {width}, {dim}, {in_channels}, {classes}")
    return {"arch": arch, "width": int(width), "dim": int(dim), "in_channels": int(in_channels), "classes": classes}


def backbone(arch: str, width: int, in_channels: int):
    """(the backbone network, its representation's size)."""
    from torch import nn

    if arch == "resnet18":
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        return net, 512

    def block(i: int, o: int):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    net = nn.Sequential(block(in_channels, width), nn.MaxPool2d(2), block(width, 2 * width), nn.MaxPool2d(2),
                        block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return net, 4 * width


def build(args: dict[str, Any]):
    """The (random-init) encoder of ``model_args`` (:func:`encoder_args`)."""
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone, features = backbone(args["arch"], args["width"], args["in_channels"])
            self.head = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True), nn.Linear(features, args["dim"]))
            self.classifier = nn.Linear(args["dim"], args["classes"]) if args.get("classes") else None

        def represent(self, x):
            """(B, features): the backbone's output (what the linear probe reads)."""
            return self.backbone(x)

        def forward(self, x):
            """(B, dim): the projection head's output, not normalised (the losses normalise it)."""
            return self.head(self.backbone(x))

    net = Encoder()
    net.args = dict(args)  # what it was built from (a random-init twin is built from the same)
    return net


def load_encoders(path) -> dict[str, Any]:
    """Every encoder of a checkpoint a training stage wrote (``{"nets": {run: model_args}}``), by run
    name, in eval mode with frozen weights.

    Raises:
        DataError: one line naming the file when it is missing, corrupted or not this pipeline's
            (core's ``load_checkpoint``).
    """
    from stages.core.checkpoint import load_checkpoint, load_models

    specs = load_checkpoint(path, kind=KIND)["model_args"]["nets"]
    names = tuple(specs)
    nets, _ = load_models(path, KIND, lambda a: [build(a["nets"][n]) for n in names], names)
    return dict(zip(names, nets))
