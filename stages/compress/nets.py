"""The networks of the ``compress`` pipeline: a CNN family (teacher, student, depthwise-separable
student) for any image size, and torchvision's quantisable ResNet-18 as the course's teacher.

A ``cnn`` net of the family is::

    stem: conv 3x3 (in → c0) + BN + ReLU                     (B, c0, S, S)
    block 1: conv (c0 → c1) + BN + ReLU, max-pool 2          (B, c1, S/2, S/2)
    block 2: conv (c1 → c2) + BN + ReLU, global average pool (B, c2)
    head: linear (c2 → classes)                              (B, classes)

A block's conv is a plain 3x3 conv, or with ``separable=True`` MobileNet's depthwise-separable pair: a
depthwise 3x3 (one filter per channel, ``groups=c_in``) + BN + ReLU, then a pointwise 1x1
(``c_in → c_out``) + BN + ReLU, as in Howard et al. (2017), Fig. 3. A 3x3 conv has ``9·c_in·c_out``
weights, the pair ``9·c_in + c_in·c_out``: about ``9·c_out/(9 + c_out)`` times fewer, so the
global-average-pool head (not a flatten + linear, whose weights would not shrink) keeps the convs the
bulk of the parameters. The stem stays a plain conv (from one channel a depthwise conv is a single
filter), as in MobileNet.

Batch norm after every conv, as MobileNet has: without it the separable student trained to 94–96% on
digits where the plain student reached 98.6% (3 seeds each, a calibration run on this project's CPU);
with it both train in seconds to about 99%. Each (conv, BN, ReLU) triple follows in an
``nn.Sequential`` so eager-mode quantisation folds it into one int8 kernel (:func:`fusable_groups`).

``resnet18`` is ``torchvision.models.quantization.resnet18`` (its residual additions are
``FloatFunctional``, so it quantises in eager mode, and it brings its own ``fuse_model``), with
CIFAR's stem: a 3x3 stride-1 first conv and no max-pool, as He et al. (2016, §4.2) use for 32x32 images.
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


ARCHS = ("cnn", "resnet18")


def _conv(c_in: int, c_out: int, k: int, groups: int = 1):
    """conv + batch norm + ReLU, as a list of modules (no conv bias: the batch norm's shift is one)."""
    import torch.nn as nn

    return [nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def _block(c_in: int, c_out: int, separable: bool):
    if not separable:
        return _conv(c_in, c_out, 3)
    return [*_conv(c_in, c_in, 3, groups=c_in),  # depthwise: (B, c_in, H, W)
            *_conv(c_in, c_out, 1)]  # pointwise: (B, c_out, H, W)


def cnn(cfg: CNNConfig):
    """The net of ``cfg``: ``(B, in_channels, S, S)`` → ``(B, classes)`` logits, for any S ≥ 2."""
    import torch.nn as nn

    c0, c1, c2 = cfg.channels
    features = nn.Sequential(
        *_conv(cfg.in_channels, c0, 3),  # stem: (B, c0, S, S)
        *_block(c0, c1, cfg.separable), nn.MaxPool2d(2),  # (B, c1, S/2, S/2)
        *_block(c1, c2, cfg.separable),  # (B, c2, S/2, S/2)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, c2)
    )
    return nn.Sequential(features, nn.Linear(c2, cfg.classes))


def head(net):
    """The last linear layer (its bias is what the omitted-class correction raises): a ``cnn``'s
    last module, a ResNet's ``fc``."""
    return net.fc if hasattr(net, "fc") else net[-1]


def parameter_count(net, *, nonzero: bool = False) -> int:
    """Number of parameters (batch norms' scales and shifts included; of a pruned layer, its
    effective masked ``weight``); ``nonzero=True`` counts only those that are not 0."""
    total = 0
    for m in net.modules():
        for name, p in m.named_parameters(recurse=False):
            t = getattr(m, name[: -len("_orig")]) if name.endswith("_orig") else p  # a pruned layer's masked weight
            total += int((t != 0).sum()) if nonzero else t.numel()
    return total


def fusable_groups(net) -> list[list[str]]:
    """Names of each (conv, BN, ReLU), (conv, BN), (conv, ReLU) or (linear, ReLU) run of modules that
    follow each other in an ``nn.Sequential``: what eager-mode quantisation fuses into one int8 kernel."""
    import torch.nn as nn

    groups = []
    for prefix, m in net.named_modules():
        if not isinstance(m, nn.Sequential):
            continue
        names = list(m._modules)
        for i, a in enumerate(names):
            if not isinstance(m._modules[a], (nn.Conv2d, nn.Linear)):
                continue
            run = [a]
            if isinstance(m._modules[a], nn.Conv2d) and i + 1 < len(names) and isinstance(m._modules[names[i + 1]], nn.BatchNorm2d):
                run.append(names[i + 1])
            nxt = i + len(run)
            if nxt < len(names) and isinstance(m._modules[names[nxt]], nn.ReLU):
                run.append(names[nxt])
            if len(run) > 1:
                groups.append([f"{prefix}.{n}" if prefix else n for n in run])
    return groups


def resnet18(in_channels: int = 3, classes: int = 10):
    """torchvision's quantisable ResNet-18 with CIFAR's stem (module docstring), random init:
    ``(B, in_channels, S, S)`` → ``(B, classes)``."""
    import torch.nn as nn
    from torchvision.models.quantization import resnet18 as quantizable_resnet18

    net = quantizable_resnet18(weights=None, quantize=False, num_classes=classes)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def net_args(arch: str, channels, separable: bool, in_channels: int, classes: int) -> dict[str, Any]:
    """A network's ``model_args`` (what :func:`build` takes): the architecture and its config."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    if arch == "resnet18":
        return {"arch": arch, "in_channels": int(in_channels), "classes": int(classes)}
    return {"arch": arch, **CNNConfig(tuple(channels), separable, int(in_channels), int(classes)).as_dict()}


def build(args: dict[str, Any]):
    """The (random-init) network of ``model_args`` (:func:`net_args`)."""
    args = dict(args)
    arch = args.pop("arch", "cnn")
    if arch == "resnet18":
        return resnet18(**args)
    if arch != "cnn":
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    return cnn(CNNConfig.from_dict(args))


def seeded(args: dict[str, Any], seed: int):
    """The network of ``args`` initialised from ``seed`` (the global RNG is left reseeded by it)."""
    import torch

    torch.manual_seed(seed)
    return build(args)


def as_args(net: CNNConfig | dict[str, Any]) -> dict[str, Any]:
    """``model_args`` of a :class:`CNNConfig` (or ``net`` itself when it is ``model_args`` already)."""
    return {"arch": "cnn", **net.as_dict()} if isinstance(net, CNNConfig) else dict(net)


def classifier_parts(net: CNNConfig | dict[str, Any]) -> dict[str, Any]:
    """What core's ``TrainingRun.fit``/``build`` takes to train one network (a :class:`CNNConfig` or
    ``model_args``) on ``(images, labels)`` batches with cross-entropy (the teacher): networks,
    objective, validation step, model args."""
    from stages.core.classify import Classification

    args = as_args(net)
    return {"models": lambda: {"net": build(args)}, "objective": lambda nets: Classification(nets["net"]),
            "val_step": lambda nets: Classification(nets["net"]).validate, "model_args": args}


def load_nets(path, kind: str = KIND) -> dict[str, Any]:
    """Every float network of a checkpoint this pipeline's training wrote, by name, in eval mode with
    frozen weights. Its ``model_args`` are ``{"nets": {name: model_args}}`` (several runs in one file)
    or one network's (named ``net``).

    Raises:
        DataError: one line naming the file when it is missing, corrupted, not a checkpoint of this
            project or of another kind (core's ``load_checkpoint``).
    """
    from stages.core.checkpoint import load_checkpoint, load_models

    args = load_checkpoint(path, kind=kind)["model_args"]
    specs = args["nets"] if "nets" in args else {"net": args}
    names = tuple(specs)
    nets, _ = load_models(path, kind, lambda a: [build(a["nets"][n] if "nets" in a else a) for n in names], names)
    return dict(zip(names, nets))


def load_checkpoint_args(path, kind: str = KIND) -> dict[str, Any]:
    """The ``model_args`` of a one-network checkpoint of this pipeline (the teacher's)."""
    from stages.core.checkpoint import load_checkpoint

    args = load_checkpoint(path, kind=kind)["model_args"]
    return next(iter(args["nets"].values())) if "nets" in args else args


def load_net(path):
    """The float net of a one-network checkpoint of this pipeline (:func:`load_nets`)."""
    return next(iter(load_nets(path).values()))
