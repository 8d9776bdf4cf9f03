"""The networks of the ``compress`` pipeline: a teacher CNN, a student CNN and a depthwise-separable
(MobileNet-style) student, all one family built from a :class:`CNNConfig`.

Every net is::

    stem: conv 3x3 (in → c0) + ReLU                      (B, c0, S, S)
    block 1: conv (c0 → c1) + ReLU, max-pool 2            (B, c1, S/2, S/2)
    block 2: conv (c1 → c2) + ReLU, global average pool   (B, c2)
    head: linear (c2 → classes)                           (B, classes)

A block's conv is a plain 3x3 conv, or with ``separable=True`` MobileNet's depthwise-separable pair: a
depthwise 3x3 (one filter per channel, ``groups=c_in``) + ReLU, then a pointwise 1x1 (``c_in → c_out``).
A 3x3 conv has ``9·c_in·c_out`` weights, the pair ``9·c_in + c_in·c_out``: about ``9·c_out/(9 + c_out)``
times fewer, so the global-average-pool head (not a flatten + linear, whose weights would not shrink)
keeps the convs the bulk of the parameters. The stem stays a plain conv (from one channel a depthwise
conv is a single filter), as in MobileNet.

No batch norm: the nets train in seconds on 8x8 digits without it, and every conv is followed by an
``nn.ReLU`` module in an ``nn.Sequential`` so eager-mode quantisation can fuse each (conv, ReLU) pair
(:func:`fusable_pairs`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KIND = "compress-cnn"  # the checkpoint's kind


@dataclass(frozen=True)
class CNNConfig:
    """One net of the family (see the module docstring).

    Args:
        channels: (c0, c1, c2): the stem's and the two blocks' output channels.
        separable: the blocks' convs depthwise-separable (MobileNet-style).
        in_channels, classes: of the data (1 and 10 for digits).
    """

    channels: tuple[int, int, int]
    separable: bool = False
    in_channels: int = 1
    classes: int = 10

    def __post_init__(self) -> None:
        if len(self.channels) != 3 or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be three positive ints (stem, block 1, block 2): got {self.channels}")
        if self.in_channels < 1 or self.classes < 2:
            raise ValueError(f"in_channels must be ≥ 1 and classes ≥ 2: got {self.in_channels}, {self.classes}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CNNConfig":
        """The inverse of :meth:`as_dict` (a checkpoint's ``model_args``); an unknown key is a TypeError."""
        return cls(**{**d, "channels": tuple(d["channels"])})


# The calibrated sizes for 1x8x8 digits (see the module docstring for the counts).
TEACHER = CNNConfig(channels=(32, 128, 256))
STUDENT = CNNConfig(channels=(16, 64, 128))
SEPARABLE_STUDENT = CNNConfig(channels=(16, 64, 128), separable=True)


def _block(c_in: int, c_out: int, separable: bool):
    import torch.nn as nn

    if not separable:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
    return [nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in), nn.ReLU(),  # depthwise: (B, c_in, H, W)
            nn.Conv2d(c_in, c_out, 1), nn.ReLU()]  # pointwise: (B, c_out, H, W)


def cnn(cfg: CNNConfig):
    """The net of ``cfg``: ``(B, in_channels, S, S)`` → ``(B, classes)`` logits, for any S ≥ 2."""
    import torch.nn as nn

    c0, c1, c2 = cfg.channels
    features = nn.Sequential(
        nn.Conv2d(cfg.in_channels, c0, 3, padding=1), nn.ReLU(),  # stem: (B, c0, S, S)
        *_block(c0, c1, cfg.separable), nn.MaxPool2d(2),  # (B, c1, S/2, S/2)
        *_block(c1, c2, cfg.separable),  # (B, c2, S/2, S/2)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, c2)
    )
    return nn.Sequential(features, nn.Linear(c2, cfg.classes))


def head(net):
    """The last linear layer (its bias is what the omitted-class correction raises)."""
    return net[-1]


def parameter_count(net, *, nonzero: bool = False) -> int:
    """Number of parameters (of a pruned net, its effective weights: ``module.weight``, masked);
    ``nonzero=True`` counts only those that are not 0."""
    import torch.nn as nn

    total = 0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            for t in (m.weight, m.bias):
                if t is not None:
                    total += int((t != 0).sum()) if nonzero else t.numel()
    return total


def fusable_pairs(net) -> list[list[str]]:
    """Names of each (conv or linear, ReLU) pair that follow each other in an ``nn.Sequential``:
    what eager-mode quantisation fuses into one int8 kernel."""
    import torch.nn as nn

    pairs = []
    for prefix, m in net.named_modules():
        if isinstance(m, nn.Sequential):
            names = list(m._modules)
            for a, b in zip(names, names[1:]):
                if isinstance(m._modules[a], (nn.Conv2d, nn.Linear)) and isinstance(m._modules[b], nn.ReLU):
                    pairs.append([f"{prefix}.{a}" if prefix else a, f"{prefix}.{b}" if prefix else b])
    return pairs


def classifier_parts(cfg: CNNConfig) -> dict[str, Any]:
    """What core's ``TrainingRun.fit``/``build`` takes to train a net of ``cfg`` on ``(images, labels)``
    batches with cross-entropy (the teacher, the student alone): networks, objective, validation step,
    model args."""
    from stages.core.classify import Classification

    return {"models": lambda: {"net": cnn(cfg)}, "objective": lambda nets: Classification(nets["net"]),
            "val_step": lambda nets: Classification(nets["net"]).validate, "model_args": cfg.as_dict()}


def load_net(path):
    """The float net of a checkpoint this pipeline's training wrote (kind :data:`KIND`), in eval mode
    with frozen weights.

    Raises:
        DataError: one line naming the file when it is missing, corrupted, not a checkpoint of this
            project or of another kind (core's ``load_checkpoint``).
    """
    from stages.core.checkpoint import load_models

    (net,), _ = load_models(path, KIND, lambda args: [cnn(CNNConfig.from_dict(args))], ("net",))
    return net
