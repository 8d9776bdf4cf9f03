"""Sample quality without downloads: a classifier trained on the real training images is the judge.

A library module (`diffusion-judge` trains :class:`Judge`, `diffusion-evaluate` and the benchmark
score with it). Inception weights cannot be fetched offline, so FID is computed in the judge's
penultimate-layer features, through torchmetrics' ``FrechetInceptionDistance(feature=<module>)``,
which downloads nothing when given a module. Validity is the share of samples the judge labels with
top probability ≥ ``confidence``; the class histogram shows mode collapse.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class JudgeConfig:
    in_channels: int
    image_px: int
    channels: int
    features: int
    classes: int

    def as_dict(self) -> dict:
        return asdict(self)


class Judge(nn.Module):
    """A small CNN: three conv blocks (the last two stride 2), global average pool, a ``features``-wide
    layer (FID's feature space), and the class logits."""

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.body = nn.Sequential(
            nn.Conv2d(cfg.in_channels, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),  # (B, 2c, S/2, S/2)
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), nn.BatchNorm2d(4 * c), nn.ReLU(),  # (B, 4c, S/4, S/4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 4c)
            nn.Linear(4 * c, cfg.features), nn.ReLU(),  # (B, features)
        )
        self.head = nn.Linear(cfg.features, cfg.classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build_judge(model_args: dict) -> tuple[Judge]:
    return (Judge(JudgeConfig(**model_args)),)


class JudgeFeatures(nn.Module):
    """The judge's feature layer as torchmetrics' FID wants it: images in, (N, d) features out."""

    def __init__(self, judge: Judge) -> None:
        super().__init__()
        self.judge = judge
        self.num_features = judge.head.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.judge.features(x.float())


@torch.no_grad()
def _batches(fn, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([fn(images[i:i + batch]) for i in range(0, len(images), batch)])


def fid(judge: Judge, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between the judge's features of ``real`` and ``fake`` ((N, C, S, S) in [-1, 1]).

    The features are computed in float64 by torchmetrics; both sets need more images than features
    for a full-rank covariance (the judge's ``features`` is kept small for that reason).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=JudgeFeatures(judge.eval()), normalize=True)
    for i in range(0, len(real), 1000):
        metric.update(real[i:i + 1000], real=True)
    for i in range(0, len(fake), 1000):
        metric.update(fake[i:i + 1000], real=False)
    return float(metric.compute())


def judge_probs(judge: Judge, images: torch.Tensor) -> torch.Tensor:
    """(N, classes) class probabilities."""
    return F.softmax(_batches(judge.eval(), images), dim=1)


def validity(probs: torch.Tensor, confidence: float) -> float:
    """Share of images whose top class probability is at least ``confidence``."""
    return float((probs.max(dim=1).values >= confidence).float().mean())


def class_histogram(probs: torch.Tensor) -> list[int]:
    """Images per predicted class (argmax), for every class."""
    return np.bincount(probs.argmax(dim=1).numpy(), minlength=probs.shape[1]).tolist()
