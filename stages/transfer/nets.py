"""The networks of the transfer pipeline: a small VGG-style net, and torchvision's architectures.

Every architecture here is split the same way into three parameter groups, the course's
fine-tuning groups: ``features`` (the convolutional backbone), ``hidden`` (the classifier's hidden
layers) and ``head`` (the last layer, replaced for the target's classes). :class:`SmallVGG` copies
VGG16's module names (``features``, ``avgpool``, ``classifier.0/.3/.6``), so one set of rules
(which keys to skip when loading pretrained weights, which parameters to freeze, which learning rate
for which group) covers the small offline network and torchvision's VGG16 alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    """Where an architecture's groups live, as state-dict key prefixes.

    Attributes:
        head: the last layer (``classifier.6.``), re-initialised for the target classes.
        hidden: the classifier's hidden layers (``classifier.0.``, ``classifier.3.``).
        torchvision: built by ``torchvision.models.get_model`` (weights=None), else :class:`SmallVGG`.
    """

    head: str
    hidden: tuple[str, ...]
    torchvision: bool = True


ARCHS: dict[str, Arch] = {
    "vgg_small": Arch("classifier.6.", ("classifier.0.", "classifier.3."), torchvision=False),
    "vgg11": Arch("classifier.6.", ("classifier.0.", "classifier.3.")),
    "vgg16": Arch("classifier.6.", ("classifier.0.", "classifier.3.")),
    # a small torchvision network (2.5 M parameters): same code path as vgg16, seconds to build
    "mobilenet_v3_small": Arch("classifier.3.", ("classifier.0.",)),
}


class SmallVGG(nn.Module):
    """VGG in miniature: 3x3 convolutions + ReLU, max-pooling, then a 3-layer classifier with dropout.

    No BatchNorm, like VGG16: a frozen backbone then stays frozen in train mode (BatchNorm would
    keep updating its running statistics).

    Args:
        num_classes: outputs of the head.
        width: channels of the first block; doubled per block (w, 2w, 4w).
        hidden: units of the classifier's two hidden layers.
        dropout: dropout before the second and third linear layers (VGG's 0.5).
    """

    def __init__(self, num_classes: int, width: int = 16, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in (width, width, "M", 2 * width, 2 * width, "M", 4 * width, "M"):
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, item, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))  # any input side >= 8 gives (B, 4w, 2, 2)
        self.classifier = nn.Sequential(
            nn.Linear(4 * width * 4, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            # Linear layers keep PyTorch's default init: VGG's N(0, 0.01) shrinks the signal ~10x per
            # layer at 64 hidden units, and without BatchNorm training then never starts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 3, H, W) -> (B, 4w, H/8, W/8)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 4w * 4)
        return self.classifier(x)  # (B, num_classes)


def build(model_args: dict) -> nn.Module:
    """A freshly initialised network from its config.

    Args:
        model_args: ``{"arch", "num_classes", "width", "hidden"}`` (width/hidden: ``vgg_small`` only).

    Returns:
        the network; torchvision's are built with ``weights=None`` (pretrained weights are loaded
        separately, verified: :func:`stages.core.weights.load_pretrained`).
    """
    arch = ARCHS[model_args["arch"]]
    if not arch.torchvision:
        return SmallVGG(model_args["num_classes"], model_args["width"], model_args["hidden"])
    import torchvision

    return torchvision.models.get_model(model_args["arch"], weights=None, num_classes=model_args["num_classes"])


def feature_layer(model: nn.Module) -> nn.Module:
    """The last convolution of the backbone (Grad-CAM's layer: the finest maps that see the whole object)."""
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1]


def group_of(key: str, arch: Arch) -> str:
    """``head``, ``hidden`` or ``features`` for a parameter name."""
    if key.startswith(arch.head):
        return "head"
    if key.startswith(arch.hidden):
        return "hidden"
    return "features"


def param_groups(model: nn.Module, arch_name: str, lrs: dict[str, float]) -> list[dict]:
    """SGD parameter groups, one per group with a learning rate; the others are frozen.

    Args:
        model: the network.
        arch_name: its key in :data:`ARCHS`.
        lrs: learning rate per group (``features``, ``hidden``, ``head``); a group left out is frozen
            (``requires_grad=False``), as the course freezes everything but the head for transfer learning.

    Returns:
        ``[{"params": [...], "lr": ..., "name": group}, ...]`` for ``torch.optim.SGD``.
    """
    arch = ARCHS[arch_name]
    unknown = sorted(set(lrs) - {"features", "hidden", "head"})
    assert not unknown, f"unknown parameter group(s) {unknown}"
    groups: dict[str, list] = {g: [] for g in lrs}
    for key, p in model.named_parameters():
        g = group_of(key, arch)
        p.requires_grad_(g in lrs)
        if g in lrs:
            groups[g].append(p)
    empty = [g for g, ps in groups.items() if not ps]
    assert not empty, f"{arch_name}: no parameters in group(s) {empty}"
    return [{"params": ps, "lr": lrs[g], "name": g} for g, ps in groups.items()]
