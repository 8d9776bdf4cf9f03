"""The four ways the pipeline trains its encoder, each a stage of a few lines (``contrastive.py``,
``triplet.py``, ``simclr.py``, ``supervised.py``) over :func:`train_method`.

Every method trains the same encoder (``represent.encoder``) under ``represent.seeds`` seeds side by
side (core's ``side_by_side``: each run its own network, optimiser and batch order), on the same
cached views, with its own recipe:

- ``contrastive``, ``triplet``: one random view of each image of a batch, the batch's labels mine
  the pairs and triplets (online, within the batch, as FaceNet does; the training split only);
- ``simclr``: two different random views of each image, no labels;
- ``supervised``: one random view, a linear classifier on the embedding, cross-entropy: the reference.

Which view a step uses is drawn from torch's global generator (seeded by core, saved with a resume
checkpoint), so a run is reproducible on its host.
"""
from __future__ import annotations

from typing import Any

from stages.core.errors import ParamsError
from stages.core.side_by_side import Run, seed_names, side_by_side_parts
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.represent import params
from stages.represent.data import Standardise, load_train, read_summary
from stages.represent.nets import KIND, build, encoder_args

METHODS = ("contrastive", "triplet", "simclr", "supervised")


def one_view(views):
    """(B, V, C, S, S) → (B, C, S, S): a random view of each image."""
    import torch

    pick = torch.randint(views.shape[1], (len(views),))
    return views[torch.arange(len(views)), pick.to(views.device)]


def two_views(views):
    """Two different random views of each image, (B, C, S, S) each."""
    import torch

    b, v = views.shape[:2]
    first = torch.randint(v, (b,))
    second = (first + 1 + torch.randint(v - 1, (b,))) % v
    rows = torch.arange(b)
    return views[rows, first.to(views.device)], views[rows, second.to(views.device)]


def method_loss(method: str, p, standardise: Standardise):
    """The loss ``(net, (views, labels)) → scalar`` of a run of ``method`` with its params ``p``."""
    import torch.nn.functional as F

    from stages.represent.losses import ContrastiveLoss, NTXentLoss, TripletLoss

    if method == "simclr":
        ntxent = NTXentLoss(p.temperature)

        def simclr(net, batch):
            a, b = two_views(batch[0])
            return ntxent(net(standardise(a)), net(standardise(b)))
        return simclr
    if method == "supervised":
        def supervised(net, batch):
            return F.cross_entropy(net.classifier(net(standardise(one_view(batch[0])))), batch[1])
        return supervised
    criterion = ContrastiveLoss(p.margin) if method == "contrastive" else TripletLoss(p.margin, p.mining)

    def metric(net, batch):
        return criterion(net(standardise(one_view(batch[0]))), batch[1])
    return metric


def method_parts(method: str, p, encoder, seeds: int, seed: int, views, labels, summary: dict[str, Any]) -> dict[str, Any]:
    """What core's ``TrainingRun.fit``/``build`` takes to train ``method`` under ``seeds`` seeds
    (runs ``<method>_seed<s>``) on uint8 ``views`` (N, V, C, S, S) and int64 ``labels`` tensors."""
    classes = len(summary["classes"])
    if method in ("contrastive", "triplet") and p.batch_size <= classes:
        raise ParamsError(f"params.yaml: represent.{method}.batch_size is {p.batch_size}: a batch must hold more images "
                          f"than the {classes} classes, or it may hold no pair of one class to learn from")
    args = encoder_args(encoder.arch, encoder.width, encoder.dim, int(summary["channels"]),
                        classes if method == "supervised" else None)
    loss = method_loss(method, p, Standardise(summary))
    runs = {name: Run(net=lambda: build(args), loss=loss, seed=s, data=(views, labels), args=args)
            for name, s in seed_names(method, seed, seeds).items()}
    return side_by_side_parts(runs, p.batch_size)


def train_method(stage: Declared, method: str) -> None:
    """The whole training stage of ``method``: ``model.pt`` (every seed's encoder), ``history.csv``, ``metrics.json``."""
    import torch

    section = params.load()
    p = getattr(section, method)
    run = TrainingRun(stage, p, kind=KIND)
    summary = read_summary(stage.dep("summary.json"))
    views, labels = load_train(stage.dep("train.npz"))
    parts = method_parts(method, p, section.encoder, section.seeds, run.seed, torch.from_numpy(views),
                         torch.from_numpy(labels), summary)
    run.fit(**parts, inputs={"train": stage.dep("train.npz")},
            key={"encoder": section.encoder.model_dump(mode="json"), "seeds": section.seeds})
    run.finish(extra={"n_train": len(labels), "views_per_image": int(views.shape[1]), "runs": list(parts["model_args"]["nets"])})
