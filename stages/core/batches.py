"""Batches for the trainer: moving nested batches to a device, tensors indexed a batch at a time,
the per-epoch shuffled (and sharded) loader, and :class:`Iterations` for loops that read no dataset.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .distributed import Dist


def to_device(batch: Any, device, non_blocking: bool = False) -> Any:
    """``batch`` with every tensor in it (nested tuples, lists, dicts) moved to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    return batch


def batch_len(batch: Any) -> int:
    """Examples in a batch: the first axis of the first tensor found in it."""
    import torch

    if isinstance(batch, torch.Tensor):
        return len(batch)
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else []
    for v in values:
        n = batch_len(v)
        if n:
            return n
    return 0


class TensorData:
    """A map-style dataset over tensors that share their first axis, fetched a whole batch at a time.

    ``data[[i, j, …]]`` indexes every tensor at once (one gather instead of a Python loop over
    examples and a collate), which keeps the loader's cost off small, fast models. Yields the tensor
    itself when there is one, a tuple for several, a dict when ``names`` are given.

    Args:
        tensors: (N, …) tensors, e.g. images and labels.
        names: optional key for each tensor (dict batches).
    """

    batched = True  # the trainer's loader passes lists of indices (see make_loader)

    def __init__(self, *tensors, names: tuple[str, ...] | None = None) -> None:
        assert tensors, "TensorData needs at least one tensor"
        assert all(len(t) == len(tensors[0]) for t in tensors), f"tensors differ in length: {[len(t) for t in tensors]}"
        assert names is None or len(names) == len(tensors), f"{len(names or ())} names for {len(tensors)} tensors"
        self.tensors, self.names = tensors, names

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        import torch

        if isinstance(index, list):
            index = torch.as_tensor(index)
        parts = tuple(t[index] for t in self.tensors)
        if self.names:
            return dict(zip(self.names, parts))
        return parts[0] if len(parts) == 1 else parts


class ShardSampler:
    """Indices ``rank, rank + world, …`` in order: every example once over all ranks (validation)."""

    def __init__(self, n: int, dist: Dist) -> None:
        self.indices = list(range(dist.rank, n, dist.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(dataset, *, batch_size: int, train: bool, seed: int, dist: Dist, device, num_workers: int = 0,
                drop_last: bool = True):
    """The ``DataLoader`` the trainer iterates: sharded over ranks, shuffled per epoch in training.

    Training batches come from ``DistributedSampler(shuffle=True, seed=seed)`` (also with one process:
    one code path), whose order depends only on (seed, epoch), so a resumed run sees the batches an
    uninterrupted one would. Validation takes every example once, in order, spread over the ranks.

    Args:
        dataset: a map-style dataset; one with ``batched = True`` (:class:`TensorData`) is indexed a
            batch at a time.
        batch_size: examples per batch *per process* (the global batch is N times this); capped at
            the shard's size, so data smaller than one batch still trains.
        train: shuffle and drop the last partial batch (BatchNorm cannot train on a batch of one).
        num_workers: loader worker processes; pinned memory is used on CUDA.
    """
    import torch
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

    if train:
        sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)
    else:
        sampler = ShardSampler(len(dataset), dist)
    size = max(1, min(batch_size, len(sampler)))
    common = dict(num_workers=num_workers, pin_memory=device.type == "cuda", persistent_workers=num_workers > 0,
                  generator=torch.Generator().manual_seed(seed))  # worker seeds; never the global RNG
    if getattr(dataset, "batched", False):
        return DataLoader(dataset, sampler=BatchSampler(sampler, size, drop_last=train and drop_last), batch_size=None, **common)
    return DataLoader(dataset, sampler=sampler, batch_size=size, drop_last=train and drop_last, **common)


def set_epoch(loader, epoch: int) -> None:
    sampler = getattr(loader, "sampler", None)
    for s in (sampler, getattr(sampler, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(s, "set_epoch"):
            s.set_epoch(epoch)
            return


class Iterations:
    """The "data" of a loop that reads no dataset (environment rollouts, an optimised input): ``n``
    iterations per epoch, each batch its index in the epoch (an ``int``).

    Give it to :meth:`stages.core.trainer.Trainer.fit` with a manual objective
    (:class:`stages.core.trainer.ManualObjective`); the trainer still runs epochs, resume,
    checkpoints, history and the run record around it.
    """

    def __init__(self, n: int) -> None:
        assert n >= 1, f"Iterations needs n >= 1, got {n}"
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))
