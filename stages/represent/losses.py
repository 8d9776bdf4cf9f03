"""The pipeline's three losses, as ``nn.Module``s over a batch of embeddings.

Embeddings are L2-normalised first, so every distance lies in [0, 2] and a margin means the same
for every encoder. Distances are Euclidean, ``sqrt(max(‖a − b‖², 1e-12))`` (the floor keeps the
gradient finite for two identical embeddings).

- :class:`ContrastiveLoss` (Hadsell, Chopra & LeCun 2006): over every pair ``(i, j)``, ``i < j``,
  of the batch, ``½·d²`` for a pair of the same class and ``½·max(0, m − d)²`` for a pair of
  different classes, averaged over the pairs.
- :class:`TripletLoss` (Schroff, Kalenichenko & Philbin 2015, FaceNet): for every (anchor,
  positive) pair of the batch, ``max(0, d(a, p) − d(a, n) + m)`` with the negative ``n`` *mined*
  in the batch: ``semihard``, the closest negative farther than the positive (when none is, the
  farthest negative, as TensorFlow Addons' ``triplet_semihard_loss`` does), ``hardest``, the closest
  negative, or ``all``, every negative (the mean over all valid triplets). FaceNet found the
  hardest negatives make training collapse early; semi-hard ones are its choice.
- :class:`NTXentLoss` (Chen et al. 2020, SimCLR): two views ``z1[i]``, ``z2[i]`` of each image; for
  each of the 2B embeddings, cross-entropy of its cosine similarities / τ to the 2B − 1 others,
  the target being its other view; averaged over the 2B.

A batch with no valid pair or triplet gives a loss of 0 that still has a gradient (zero), so a
last, small batch never stops training. ``tests/represent/test_losses.py`` checks each against a
direct formula or ``F.triplet_margin_loss`` and with ``torch.autograd.gradcheck``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FLOOR = 1e-12  # squared distances below it count as this (a finite gradient at d = 0)


def distances(e: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances between the rows of ``e`` (computed from differences, not the
    Gram trick, so that d(a, a) is exactly the floor and nothing cancels)."""
    return (e[:, None, :] - e[None, :, :]).pow(2).sum(-1).clamp_min(FLOOR).sqrt()


def _zero(e: torch.Tensor) -> torch.Tensor:
    return e.sum() * 0.0


class ContrastiveLoss(nn.Module):
    def __init__(self, margin: float) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"contrastive margin must be ≥ 0: got {margin}")
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = F.normalize(embeddings, dim=1)
        d = distances(e)
        same = labels[:, None] == labels[None, :]
        upper = torch.ones_like(same).triu(1)
        if not upper.any():
            return _zero(embeddings)
        per_pair = torch.where(same, d.pow(2), F.relu(self.margin - d).pow(2)) / 2
        return per_pair[upper].mean()


MINING = ("semihard", "hardest", "all")


class TripletLoss(nn.Module):
    def __init__(self, margin: float, mining: str = "semihard") -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"triplet margin must be ≥ 0: got {margin}")
        if mining not in MINING:
            raise ValueError(f"unknown triplet mining {mining!r}; known: {', '.join(MINING)}")
        self.margin, self.mining = margin, mining

    def negatives(self, d: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mined triplets' indices (anchors, positives, negatives), one per (anchor, positive)
        pair (every negative of it with ``all``); chosen without gradients."""
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        a, p = torch.nonzero(same & ~eye, as_tuple=True)
        neg = ~same[a]  # (pairs, B): the anchor's negatives
        if self.mining == "all":
            pair, n = torch.nonzero(neg, as_tuple=True)
            return a[pair], p[pair], n
        with torch.no_grad():
            dan, dap = d[a], d[a, p][:, None]  # (pairs, B), (pairs, 1)
            inf = torch.full_like(dan, float("inf"))
            keep = neg.any(1)  # a batch of one class has no negative
            closest = torch.where(neg, dan, inf).argmin(1)
            if self.mining == "hardest":
                return a[keep], p[keep], closest[keep]
            outside = neg & (dan > dap)
            semi = torch.where(outside, dan, inf).argmin(1)
            farthest = torch.where(neg, dan, -inf).argmax(1)
            n = torch.where(outside.any(1), semi, farthest)
        return a[keep], p[keep], n[keep]

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = F.normalize(embeddings, dim=1)
        d = distances(e)
        a, p, n = self.negatives(d.detach(), labels)
        if len(a) == 0:
            return _zero(embeddings)
        return F.relu(d[a, p] - d[a, n] + self.margin).mean()


class NTXentLoss(nn.Module):
    def __init__(self, temperature: float) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"NT-Xent temperature must be > 0: got {temperature}")
        self.temperature = temperature

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if z1.shape != z2.shape:
            raise ValueError(f"the two views' embeddings differ in shape: {tuple(z1.shape)} and {tuple(z2.shape)}")
        b = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        sim = (z @ z.T) / self.temperature
        sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
        return F.cross_entropy(sim, target)
