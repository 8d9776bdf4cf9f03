"""The training recipe: one schema, one set of bounds, composed by every training stage's params.

A pipeline's training section is a :class:`Recipe` with its own keys added (the network's width, a
loss weight): ``class TrainParams(Recipe): channels: int = ...``. The recipe holds what the trainer
needs and nothing a network needs:

- ``epochs``, ``batch_size`` (per process), ``accumulate`` (batches summed into one update);
- ``optimizer`` (``adam``, ``adamw``, ``sgd``), ``lr`` (one number, or one per network or parameter
  group by name), ``betas`` (Adam's), ``momentum`` (SGD's), ``weight_decay``;
- ``lr_schedule`` (``constant`` or ``cosine`` to 0 at the last update) after an optional linear warm-up
  of ``warmup_steps`` updates or ``warmup_epochs`` epochs, stepped per update;
- ``clip_grad_norm``, ``ema_decay``;
- ``precision`` (``fp32``, ``fp16``, ``bf16``: reduced precision on CUDA only), ``nproc_per_node``
  (torchrun + DDP when > 1), ``seed`` (null: ``common.seed``);
- ``validate_every`` and ``checkpoint_every`` (epochs).

The old ``amp: true|false`` key is refused with one line naming ``precision``.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .params import Betas, Params, Seed

LearningRate = Annotated[float, Field(gt=0, le=10)]
RENAMED = {"amp": "precision: fp32 | fp16 | bf16 (amp: true is precision: fp16)", "grad_clip": "clip_grad_norm"}


class Recipe(Params):
    """How a network is trained (see the module's docstring); every training section composes it."""

    epochs: int = Field(ge=1, le=100_000)
    batch_size: int = Field(ge=1, le=65_536)  # per process; capped at the training set's size
    accumulate: int = Field(1, ge=1, le=1024)
    optimizer: Literal["adam", "adamw", "sgd"]
    lr: LearningRate | dict[str, LearningRate]  # one, or one per network / parameter group (the pipeline says which)
    betas: Betas = (0.9, 0.999)  # adam, adamw
    momentum: float = Field(0.0, ge=0, lt=1)  # sgd
    weight_decay: float = Field(0.0, ge=0, le=1)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)  # linear warm-up over this many updates ...
    warmup_epochs: float = Field(0.0, ge=0)  # ... or epochs (fractions allowed); not both
    clip_grad_norm: float | None = Field(None, gt=0)
    ema_decay: float | None = Field(None, gt=0, lt=1)  # an EMA copy of the weights, updated every iteration
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    nproc_per_node: int = Field(1, ge=1, le=64)
    seed: Seed | None = None  # null: common.seed
    validate_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(1, ge=1)  # epochs between resume checkpoints

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in RENAMED if k in data]
            if old:
                raise ValueError("; ".join(f"'{k}' was replaced by '{RENAMED[k]}'" for k in old))
        return data

    @model_validator(mode="after")
    def _one_warmup(self) -> "Recipe":
        if self.warmup_steps and self.warmup_epochs:
            raise ValueError(f"set warmup_steps ({self.warmup_steps}) or warmup_epochs ({self.warmup_epochs}), not both")
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs {self.warmup_epochs} exceeds epochs {self.epochs}")
        return self

    def lr_of(self, name: str) -> float:
        """The learning rate of network or group ``name``: ``lr`` itself, or ``lr[name]``."""
        if isinstance(self.lr, dict):
            if name not in self.lr:
                from .errors import ParamsError

                raise ParamsError(f"lr has no entry '{name}' (it has {', '.join(self.lr)})")
            return self.lr[name]
        return self.lr

    def optimizer_for(self, params, lr: float | None = None):
        """The recipe's optimizer over ``params`` (tensors, or param groups carrying their own ``lr``).

        ``lr`` is the default for groups without one (default: ``lr`` when it is one number, else the
        first group's).
        """
        import torch

        params = list(params)
        if lr is None:
            lr = self.lr if not isinstance(self.lr, dict) else params[0]["lr"]
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=self.weight_decay)
        cls = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=lr, betas=tuple(self.betas), weight_decay=self.weight_decay)

    def scheduler_for(self, optimizer, steps_per_epoch: int):
        """The per-update LR schedule (a ``LambdaLR`` scaling every group's own lr), or None when the
        lr stays constant (no warm-up, ``lr_schedule: constant``)."""
        import torch

        warmup = self.warmup_steps or round(self.warmup_epochs * steps_per_epoch)
        total = self.epochs * steps_per_epoch
        if self.lr_schedule == "constant" and not warmup:
            return None
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(self.lr_schedule, warmup, total))


def lr_factor(schedule: str, warmup: int, total: int):
    """The factor on the lr at update ``step`` (0-based): ``(step + 1) / warmup`` during the warm-up,
    then 1 (``constant``) or a half cosine from 1 to 0 at update ``total`` (``cosine``)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1, accumulate: int = 1) -> int:
    """Updates per epoch of the trainer's loader over ``n`` examples (each process's shard, its last
    partial batch dropped, a batch capped at the shard)."""
    shard = math.ceil(n / world_size)
    return max(1, shard // max(1, min(batch_size, shard)) // accumulate)


def need_networks(recipe: Recipe, names: tuple[str, ...]) -> None:
    """For a section's validator: a per-network ``lr`` mapping must name exactly ``names``.

    Raises:
        ValueError: names missing or unknown (pydantic reports it under the section's key path).
    """
    if isinstance(recipe.lr, dict) and set(recipe.lr) != set(names):
        raise ValueError(f"lr names the networks {', '.join(recipe.lr)}; this stage trains {', '.join(names)} "
                         "(give one number, or one per network)")
