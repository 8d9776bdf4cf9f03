"""Training machinery for every model stage: device and precision, seeding, the loop, resume.

Three layers are kept apart (see STYLE.md): the *network* (an ``nn.Module`` built from a config),
the *objective* (computes each loss from a batch, knows nothing of optimizers or devices) and the
:class:`Trainer` here: batches from a ``DataLoader`` moved to the device whatever they hold, mixed
precision, updates (gradient accumulation, clipping, LR schedules), an EMA copy of the weights, an
optional validation pass per epoch, the progress bar, per-epoch history, checkpoints and resume, on
1..N processes (torchrun + ``DistributedDataParallel``, see :mod:`stages.core.distributed`).

Resume: with ``resume=`` set, the trainer saves a full checkpoint (models, optimizers, schedulers,
AMP scalers, EMA, every rank's RNG states, history) there after every ``checkpoint_every`` epochs,
with a sha256 sidecar checked before it is loaded, and on start continues from it when its ``key``
matches. The key is a hash of the stage's params and inputs (:func:`run_key`), so a changed param
never resumes a stale run. A run killed before it finished leaves its checkpoint; when the
stage next starts with other params, that stale folder is deleted (:meth:`Trainer._claim_resume_folder`).
On CPU the resumed run ends byte-identical to an uninterrupted one: the
shuffle order depends only on (seed, epoch) (``DistributedSampler``), and every other source of
randomness (the global torch RNG for noise, the loader's generator) is saved and restored.

Non-finite losses: a NaN or infinite loss in any step stops the run at the end of that epoch with a
:class:`~stages.core.errors.TrainingError` naming the loss, the epoch and the first such step, before
the epoch's checkpoint or any output is written (tracked on the device: no host sync per step).

Wall-clock figures (``seconds``, ``images_per_s``) stay in :attr:`Trainer.history` for the run
record (:mod:`stages.core.runs`) and are left out of every DVC-tracked output.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import Dist, all_gather_objects, barrier, from_env, init_distributed, shutdown
from .errors import DataError, IntegrityError, TrainingError
from .io import Outputs, atomic_outputs, dumps_json
from .runs import write_run_record
from .runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)

CHECKPOINTS_ENV = "REPROLAB_CHECKPOINTS"
WALL_CLOCK = ("seconds", "images_per_s")  # history columns that measure time, not the model
NO_STEP = 2**62  # "no non-finite loss seen yet" in the per-epoch tracker (min-reduced over ranks)
Precision = Literal["fp32", "fp16", "bf16"]


def setup_torch(seed: int, device: str = "auto"):
    """Seed every RNG, pick the device (``auto`` → CUDA when present), make CPU kernels deterministic.

    Under torchrun this also joins the process group, and on CUDA each process takes the GPU of its
    local rank.

    Returns:
        the ``torch.device`` to train on.
    """
    import torch

    _, name = init_distributed(resolve_device(device))
    dev = torch.device(name)
    seed_everything(seed)  # python, numpy and torch (CPU and every CUDA device); same on every rank
    if dev.type == "cpu":
        deterministic_kernels()
    return dev


def deterministic_kernels() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` for eager kernels, without its import.

    The public call also sets TorchInductor's ``deterministic`` flag, and importing that config imports
    ``torch._inductor`` and ``torch._dynamo``: 1.5-5 s in every stage process, about as long as
    ``import torch`` itself. Nothing here compiles with Inductor, so only the switch the eager kernels
    read is set, the one the public call sets too (tests/core/test_trainer.py checks both flags and the
    import).
    """
    import torch

    torch._C._set_deterministic_algorithms(True, warn_only=True)


def precision_on(device, precision: Precision | bool) -> Precision:
    """The precision actually used: ``fp16``/``bf16`` on CUDA only (``True`` means fp16), else ``fp32``."""
    if precision is True:
        precision = "fp16"
    elif precision is False or precision is None:
        precision = "fp32"
    assert precision in ("fp32", "fp16", "bf16"), f"precision is fp32, fp16 or bf16, got {precision!r}"
    return precision if device.type == "cuda" else "fp32"


def autocast(device, precision: Precision | bool) -> contextlib.AbstractContextManager:
    """Autocast to float16 / bfloat16 on CUDA; a no-op on CPU and for ``fp32``."""
    import torch

    used = precision_on(device, precision)
    dtype = torch.bfloat16 if used == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=used != "fp32")


def run_key(**parts: Any) -> str:
    """A short hash of everything that determines a training run (params, seed, input hashes)."""
    return hashlib.sha256(dumps_json(parts).encode()).hexdigest()[:16]


def resume_path(stage: str, key: str) -> Path:
    """Where ``stage`` keeps its resume checkpoint: ``.reprolab/checkpoints/<stage>-<key>/last.pt``.

    Outside DVC's outputs on purpose (DVC deletes a stage's outputs before running it), git-ignored,
    relative to the repository root (stages run from there) unless ``$REPROLAB_CHECKPOINTS`` is set.
    """
    root = Path(os.environ.get(CHECKPOINTS_ENV) or ".reprolab/checkpoints")
    return root / f"{stage}-{key}" / "last.pt"


# ---- data ------------------------------------------------------------------------------------------

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


def _set_epoch(loader, epoch: int) -> None:
    sampler = getattr(loader, "sampler", None)
    for s in (sampler, getattr(sampler, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        if hasattr(s, "set_epoch"):
            s.set_epoch(epoch)
            return


# ---- the trainer -----------------------------------------------------------------------------------

class Objective(Protocol):
    """Computes losses from a batch. ``steps()`` lists the updates of one iteration, in order: each
    is (optimizer name, function batch → scalar loss); the trainer runs backward and the update of
    that optimizer before computing the next loss (a GAN: discriminator first, then generator)."""

    def steps(self) -> list[tuple[str, Callable[[Any], Any]]]: ...


class Trainer:
    """Minibatch training of one or more networks with one optimizer per update step.

    Args:
        models: the networks by name (their states go into checkpoints).
        optimizers: one per step name of the objective's ``steps()``.
        objective: an :class:`Objective`, or a function ``models → Objective``; give a function for
            multi-process training, where it receives the DDP-wrapped networks (gradients are averaged
            over ranks only through the wrapper's forward).
        kind: the checkpoint's kind (e.g. ``"dcgan"``), checked when it is loaded.
        model_args: each network's config as plain dicts, stored in the checkpoint.
        params: the stage's validated params (plain dict), stored in the checkpoint.
        epochs: epochs to train in total (a resumed run trains the rest).
        batch_size: examples per batch and process (see :func:`make_loader`).
        device: from :func:`setup_torch`.
        precision: ``fp16`` (autocast + grad scaling), ``bf16`` (autocast) or ``fp32``; CUDA only,
            always fp32 on CPU. ``True``/``False`` mean fp16/fp32.
        seed: seeds the shuffle order (per epoch) and the loader's workers.
        key: :func:`run_key` of the run; a resume checkpoint with another key is ignored.
        resume: resume checkpoint path (:func:`resume_path`), or None to never save or resume.
        checkpoint_every: epochs between resume checkpoints.
        desc: progress-bar label.
        schedulers: LR schedulers by optimizer name (e.g. warm-up then cosine), stepped after each
            update of that optimizer (``schedule_every="step"``) or once per epoch (``"epoch"``).
        clip_grad_norm: clip each update's gradient norm (over that optimizer's parameters) to this.
        accumulate: batches whose gradients are summed into one update (the loss is divided by it).
        ema_decay: keep an exponential moving average of the weights of ``ema_models`` (default all),
            updated after every iteration; read it with :meth:`ema_model`, saved in checkpoints.
        val_step: ``batch → {metric: mean over the batch}``, run under ``no_grad`` in eval mode on the
            validation data given to :meth:`fit`, every ``validate_every`` epochs; the means over
            the whole validation set go into the history row and the progress bar.
        num_workers: ``DataLoader`` workers.
        dist: this process's rank (default: from torchrun's environment).
    """

    def __init__(self, *, models: dict, optimizers: dict, objective: Objective | Callable[[dict], Objective], kind: str,
                 model_args: dict, params: dict, epochs: int, batch_size: int, device, precision: Precision | bool = "fp32",
                 seed: int, key: str = "", resume: Path | None = None, checkpoint_every: int = 1, desc: str = "train",
                 schedulers: dict | None = None, schedule_every: Literal["step", "epoch"] = "step",
                 clip_grad_norm: float | None = None, accumulate: int = 1, ema_decay: float | None = None,
                 ema_models: tuple[str, ...] | None = None, val_step: Callable[[Any], dict] | None = None,
                 validate_every: int = 1, num_workers: int = 0, dist: Dist | None = None) -> None:
        import torch

        assert epochs >= 1 and batch_size >= 1 and checkpoint_every >= 1 and accumulate >= 1 and validate_every >= 1, \
            "epochs, batch_size, checkpoint_every, accumulate, validate_every must be >= 1"
        assert schedule_every in ("step", "epoch"), f"schedule_every is 'step' or 'epoch', got {schedule_every!r}"
        assert ema_decay is None or 0.0 < ema_decay < 1.0, f"ema_decay must be in (0, 1), got {ema_decay}"
        self.dist = dist or from_env()
        self.models, self.optimizers = models, optimizers
        self.nets = self._wrap(models, device)  # what the objective calls: DDP wrappers under torchrun
        if hasattr(objective, "steps"):
            assert not self.dist.enabled, "with several processes, pass the objective as a function of the models"
            self.objective = objective
        else:
            self.objective = objective(self.nets)
        names = [name for name, _ in self.objective.steps()]
        missing = [n for n in names if n not in optimizers]
        assert not missing, f"the objective's step(s) {missing} have no optimizer (got {sorted(optimizers)})"
        unknown = sorted(set(schedulers or {}) - set(optimizers))
        assert not unknown, f"schedulers for unknown optimizer(s) {unknown}"
        self.kind, self.model_args, self.params = kind, model_args, params
        self.epochs, self.batch_size, self.device, self.key, self.seed = epochs, batch_size, device, key, seed
        self.precision = precision_on(device, precision)
        self.scalers = {n: torch.amp.GradScaler("cuda", enabled=self.precision == "fp16") for n in names}
        self.schedulers, self.schedule_every = dict(schedulers or {}), schedule_every
        self.clip_grad_norm, self.accumulate = clip_grad_norm, accumulate
        self.ema = self._make_ema(ema_decay, ema_models)
        self.val_step, self.validate_every, self.num_workers = val_step, validate_every, num_workers
        self.resume, self.checkpoint_every, self.desc = resume, checkpoint_every, desc
        self.loader_gen = None
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.resumed_from = 0
        self._rng_states: list[dict] | None = None
        self._loader_state = None

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _wrap(self, models: dict, device) -> dict:
        if not self.dist.enabled:
            return dict(models)
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        # a network with no trainable weights needs no gradient averaging (and DDP refuses it)
        return {n: DDP(m, device_ids=ids) if any(p.requires_grad for p in m.parameters()) else m for n, m in models.items()}

    def _make_ema(self, decay: float | None, names: tuple[str, ...] | None) -> dict:
        if decay is None:
            return {}
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        names = tuple(names or self.models)
        unknown = [n for n in names if n not in self.models]
        assert not unknown, f"ema_models {unknown} are not among the models {sorted(self.models)}"
        return {n: AveragedModel(self.models[n], multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True) for n in names}

    def ema_model(self, name: str):
        """The EMA copy of network ``name`` (an ``nn.Module``; requires ``ema_decay``)."""
        return self.ema[name].module

    # -- state ------------------------------------------------------------------------------
    def _local_rng(self) -> dict[str, Any]:
        import torch

        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "loader": self.loader_gen.get_state() if self.loader_gen is not None else torch.empty(0, dtype=torch.uint8)}

    def checkpoint(self) -> dict[str, Any]:
        """The full, self-describing state after the last completed epoch (no collective call)."""
        return {
            "kind": self.kind,
            "model_args": self.model_args,
            "params": self.params,
            "epoch": self.epoch,
            "key": self.key,
            "world_size": self.dist.world_size,
            "models": {n: m.state_dict() for n, m in self.models.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "ema": {n: e.module.state_dict() for n, e in self.ema.items()},
            "ema_updates": {n: int(e.n_averaged) for n, e in self.ema.items()},
            "rng": self._rng_states if self._rng_states is not None else [self._local_rng()],  # one per rank
            "history": list(self.history),
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from ``ckpt`` (as written by :meth:`checkpoint`, by as many processes as now)."""
        import torch

        for n, m in self.models.items():
            m.load_state_dict(ckpt["models"][n])
        for n, o in self.optimizers.items():
            o.load_state_dict(ckpt["optimizers"][n])
        for n, s in self.schedulers.items():
            s.load_state_dict(ckpt["schedulers"][n])
        for n, s in self.scalers.items():
            if ckpt.get("scalers", {}).get(n):
                s.load_state_dict(ckpt["scalers"][n])
        for n, e in self.ema.items():
            e.module.load_state_dict(ckpt["ema"][n])
            e.n_averaged.fill_(ckpt["ema_updates"][n])
        rng = ckpt["rng"][self.dist.rank]
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self._loader_state = rng["loader"].cpu() if len(rng["loader"]) else None
        self.epoch = int(ckpt["epoch"])
        self.history = list(ckpt["history"])
        self.resumed_from = self.epoch

    def _try_resume(self) -> None:
        self._loader_state = None
        if self.resume is None or not self.resume.exists():
            return
        try:  # the sha256 sidecar is checked before torch.load reads the file
            ckpt = load_checkpoint(self.resume, map_location=self.device, kind=self.kind, verify=True)
        except (DataError, IntegrityError) as exc:  # a torn, flipped or foreign file: start over rather than fail
            log.warning("%s: ignoring the resume checkpoint, starting over (%s)", self.resume, exc)
            return
        if ckpt.get("key") != self.key or ckpt["epoch"] > self.epochs or len(ckpt["rng"]) != self.dist.world_size:
            log.info("%s: resume checkpoint is for other params; starting over", self.resume)
            return
        self.restore(ckpt)
        log.info("resuming from %s: %d of %d epochs done", self.resume, self.epoch, self.epochs)

    def discard_resume(self) -> None:
        """Delete the resume checkpoint (call once the stage's outputs are written; rank 0 only)."""
        if self.is_main and self.resume is not None and self.resume.parent.exists():
            shutil.rmtree(self.resume.parent)

    def _claim_resume_folder(self) -> int | None:
        """Hold a lock on this run's resume folder and delete the stale ones of the same stage (rank 0).

        The folder is ``<stage>-<key>``: a run killed (SIGKILL, power loss) before it finished leaves
        its folder, and a run with other params has another key, so that folder would never be
        resumed nor deleted. When a stage starts, every ``<stage>-<other key>`` folder beside its own
        is deleted, unless another process holds its lock (a run of that stage in progress, e.g.
        in another checkout sharing ``$REPROLAB_CHECKPOINTS``): at most one resume checkpoint per
        stage stays on disk. A run that goes back to earlier params starts that run over.

        Returns:
            the descriptor holding the lock (closed at the end of :meth:`fit`), or None.
        """
        if self.resume is None or not self.is_main:
            return None
        folder = self.resume.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another process is training with the same params and resume checkpoint", folder)
        suffix = f"-{self.key}"
        if not re.fullmatch(r"[0-9a-f]{16}", self.key) or not folder.name.endswith(suffix):
            return fd  # not a run_key: no way to tell this stage's folders from another's
        same_stage = re.compile(re.escape(folder.name[: -len(suffix)]) + r"-[0-9a-f]{16}")
        for other in sorted(folder.parent.iterdir()):
            if other == folder or not other.is_dir() or not same_stage.fullmatch(other.name):
                continue
            other_fd = os.open(other, os.O_RDONLY)
            try:
                fcntl.flock(other_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                log.info("%s: deleting the resume checkpoint of an earlier run with other params (it never finished)", other)
                shutil.rmtree(other, ignore_errors=True)  # under its lock: no run can take it meanwhile
            except BlockingIOError:
                log.info("%s: kept, a run with those params is in progress", other)
            finally:
                os.close(other_fd)
        return fd

    def _sync_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm statistics, spectral-norm vectors) on every rank: DDP averages
        gradients, not buffers, so after an epoch every rank holds rank 0's complete state."""
        if not self.dist.enabled:
            return
        import torch.distributed as tdist

        for m in [*self.models.values(), *(e for e in self.ema.values())]:
            for buf in m.buffers():
                tdist.broadcast(buf, src=0)

    # -- loop -------------------------------------------------------------------------------
    def loader(self, data, train: bool = True):
        """``data`` as a loader: a ``DataLoader`` is used as given, a dataset or tensor goes through
        :func:`make_loader` (a tensor becomes a :class:`TensorData`)."""
        import torch
        from torch.utils.data import DataLoader

        if isinstance(data, DataLoader):
            return data
        if isinstance(data, torch.Tensor):
            data = TensorData(data)
        return make_loader(data, batch_size=self.batch_size, train=train, seed=self.seed, dist=self.dist,
                           device=self.device, num_workers=self.num_workers)

    def _no_sync(self) -> contextlib.ExitStack:
        """No gradient averaging for every DDP network (all but the last batch of an accumulation)."""
        stack = contextlib.ExitStack()
        for net in self.nets.values():
            if hasattr(net, "no_sync"):
                stack.enter_context(net.no_sync())
        return stack

    def _update(self, group: list, steps, sums: dict, first_bad: dict, step: int) -> None:
        """One iteration: each step's losses over the ``group`` of batches, then that optimizer's update.

        ``first_bad[name]`` (a device tensor) takes ``step`` at the first non-finite loss of the epoch,
        without a host sync per step: :meth:`_stop_if_not_finite` reads it once per epoch.
        """
        import torch

        for name, loss_fn in steps:
            opt, scaler = self.optimizers[name], self.scalers[name]
            opt.zero_grad(set_to_none=True)
            for i, batch in enumerate(group):
                last = i == len(group) - 1
                with contextlib.nullcontext() if last else self._no_sync():
                    with autocast(self.device, self.precision):
                        loss = loss_fn(batch)
                    scaler.scale(loss / len(group) if len(group) > 1 else loss).backward()
                value = loss.detach().float()
                sums[name] += value
                seen = first_bad[name]
                seen.copy_(torch.where(torch.isfinite(value) | (seen != NO_STEP), seen, torch.full_like(seen, step)))
            if self.clip_grad_norm is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], self.clip_grad_norm)
            scaler.step(opt)
            scaler.update()
            if self.schedule_every == "step" and name in self.schedulers:
                self.schedulers[name].step()
        for n, e in self.ema.items():
            e.update_parameters(self.models[n])

    def _stop_if_not_finite(self, sums: dict, first_bad: dict, per_epoch: int) -> None:
        """Stop the run when a loss of this epoch was NaN or infinite (called before anything is saved).

        ``sums`` are the epoch's loss sums, already reduced over the ranks, so every rank takes the
        same decision; the step named is the first non-finite one on any rank.

        Raises:
            TrainingError: names the loss, the epoch and the step; no checkpoint or output is written.
        """
        import torch

        bad = [n for n, v in sums.items() if not math.isfinite(float(v))]
        if not bad:
            return
        name = bad[0]
        step = first_bad[name].clone()
        if self.dist.enabled:
            import torch.distributed as tdist

            tdist.all_reduce(step, op=tdist.ReduceOp.MIN)
        step = int(step.item())
        where = f"step {step} of {per_epoch}" if step != NO_STEP else "its summed loss overflowed"
        raise TrainingError(
            f"{self.desc}: loss_{name} is not finite (NaN or inf) at epoch {self.epoch + 1} of {self.epochs}, {where}; "
            f"training stopped and nothing was written (the resume checkpoint holds epoch {self.epoch} at most). "
            "Lower the learning rate, clip gradients, or check the inputs and pretrained weights for NaN."
        )

    def _validate(self, loader) -> dict[str, float]:
        """Means of ``val_step``'s metrics over the whole validation set (all ranks together)."""
        import torch

        for m in self.models.values():
            m.eval()
        totals: dict[str, float] = {}
        count = 0
        with torch.no_grad(), autocast(self.device, self.precision):
            for batch in loader:
                batch = to_device(batch, self.device, non_blocking=True)
                n = batch_len(batch)
                for k, v in self.val_step(batch).items():
                    totals[k] = totals.get(k, 0.0) + float(v) * n
                count += n
        for m in self.models.values():
            m.train()
        parts = all_gather_objects((totals, count), self.dist)
        count = sum(c for _, c in parts)
        keys = list(dict.fromkeys(k for t, _ in parts for k in t))  # val_step's order
        return {k: sum(t.get(k, 0.0) for t, _ in parts) / max(count, 1) for k in keys}

    def fit(self, data, val=None) -> list[dict[str, float]]:
        """Train up to ``epochs``.

        Args:
            data: a ``Dataset`` (tuples, dicts or tensors per example; labels included), a tensor
                whose first axis indexes examples, or a ready ``DataLoader``.
            val: validation data, the same kinds (needs ``val_step``).

        Returns:
            the per-epoch history: ``epoch``, ``loss_<step>`` (mean over the epoch's batches and
            ranks), ``lr_<optimizer>`` with schedulers, the validation metrics, ``seconds`` and
            ``images_per_s`` (over all ranks).

        Raises:
            TrainingError: a loss was NaN or infinite in an epoch (checked at the epoch's end, before
                its checkpoint); the message names the loss, the epoch and the first such step.
        """
        assert val is None or self.val_step is not None, "validation data given but no val_step"
        lock = self._claim_resume_folder()
        try:
            return self._fit(data, val)
        finally:
            if lock is not None:
                os.close(lock)

    def _fit(self, data, val) -> list[dict[str, float]]:
        import torch
        import torch.distributed as tdist
        from tqdm.auto import tqdm

        self._try_resume()
        barrier(self.dist)  # no rank starts (and rank 0 overwrites the checkpoint) before all have read it
        if self.dist.enabled and self.resumed_from == 0:
            torch.manual_seed(self.seed + self.dist.rank)  # each rank draws its own noise; weights are rank 0's (DDP)
        train_loader, val_loader = self.loader(data, train=True), (self.loader(val, train=False) if val is not None else None)
        self.loader_gen = getattr(train_loader, "generator", None)
        if self._loader_state is not None and self.loader_gen is not None:
            self.loader_gen.set_state(self._loader_state)
        steps = self.objective.steps()
        per_epoch = max(1, len(train_loader) // self.accumulate)
        bar = tqdm(total=(self.epochs - self.epoch) * per_epoch, desc=self.desc, unit="step", mininterval=1.0,
                   leave=False, disable=not self.is_main)
        for m in self.models.values():
            m.train()
        while self.epoch < self.epochs:
            start = time.perf_counter()
            _set_epoch(train_loader, self.epoch)
            sums = {name: torch.zeros((), device=self.device) for name, _ in steps}
            first_bad = {name: torch.full((), NO_STEP, dtype=torch.long, device=self.device) for name, _ in steps}
            seen = batches = updates = 0
            group: list = []
            for batch in train_loader:
                group.append(to_device(batch, self.device, non_blocking=True))
                if len(group) < self.accumulate:
                    continue
                updates += 1
                self._update(group, steps, sums, first_bad, updates)
                batches += len(group)
                seen += sum(batch_len(b) for b in group)
                group = []
                bar.update()
            if group:  # an epoch's last, short accumulation
                updates += 1
                self._update(group, steps, sums, first_bad, updates)
                batches += len(group)
                seen += sum(batch_len(b) for b in group)
            if self.schedule_every == "epoch":
                for s in self.schedulers.values():
                    s.step()
            if self.dist.enabled:  # mean over every rank's batches
                stacked = torch.stack([sums[n] for n, _ in steps] + [torch.tensor(float(batches), device=self.device)])
                tdist.all_reduce(stacked)
                sums = {n: stacked[i] for i, (n, _) in enumerate(steps)}
                batches = int(stacked[-1].item())
                seen *= self.dist.world_size
            self._stop_if_not_finite(sums, first_bad, updates)
            self.epoch += 1
            row: dict[str, float] = {"epoch": self.epoch, **{f"loss_{k}": float(v) / max(batches, 1) for k, v in sums.items()}}
            row.update({f"lr_{n}": float(s.get_last_lr()[0]) for n, s in self.schedulers.items()})
            if val_loader is not None and (self.epoch % self.validate_every == 0 or self.epoch == self.epochs):
                row.update(self._validate(val_loader))
            self.history.append(row)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k not in ("epoch", *WALL_CLOCK)})
            self._sync_buffers()
            self._rng_states = all_gather_objects(self._local_rng(), self.dist)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            # the epoch's wall time, its resume checkpoint included (the row is what the checkpoint saves)
            row.update(seconds=time.perf_counter() - start, images_per_s=0.0)
            if self.resume is not None and (self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs) and self.is_main:
                save_checkpoint(self.resume, self.checkpoint(), sidecar=True)
            row["seconds"] = time.perf_counter() - start
            row["images_per_s"] = seen / row["seconds"]
        bar.close()
        if self.history and self.is_main:
            last = self.history[-1]
            log.info("%s: %d epochs (%d resumed) on %d process(es); last epoch %s", self.desc, self.epoch, self.resumed_from,
                     self.dist.world_size, ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
        return self.history

    def run_record(self) -> dict[str, Any]:
        """What this run measured (wall clock) for :func:`stages.core.runs.write_run_record`."""
        timed = [r for r in self.history[self.resumed_from:] if "seconds" in r]
        return {
            "kind": self.kind, "device": self.device.type, "processes": self.dist.world_size, "precision": self.precision,
            "epochs": self.epoch, "resumed_from_epoch": self.resumed_from,
            "train_seconds": sum(r["seconds"] for r in timed),
            "images_per_s": sum(r["images_per_s"] for r in timed) / len(timed) if timed else 0.0,
        }


# ---- outputs -----------------------------------------------------------------------------------

def without_wall_clock(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """History rows without the columns that measure time (they would change the outputs' hashes)."""
    return [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in history]


def history_csv(history: list[dict[str, float]]) -> str:
    """Per-epoch history as CSV text, for ``dvc plots``: one column per key of any row (a row without a value,
    e.g. an epoch with no validation pass under ``validate_every``, leaves its cell empty), wall-clock columns left out."""
    history = without_wall_clock(history)
    if not history:
        return ""
    cols = list(dict.fromkeys(k for row in history for k in row))  # every row's columns: validation runs every few epochs
    lines = [",".join(cols)] + [",".join(f"{row.get(c, float('nan')):.6g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in cols)
                                for row in history]
    return "\n".join(lines) + "\n"


def train_summary(history: list[dict[str, float]]) -> dict[str, float]:
    """Metrics for a training stage: epochs and the last epoch's losses and validation metrics."""
    if not history:
        return {"epochs": 0}
    last = without_wall_clock(history)[-1]
    return {"epochs": int(last["epoch"]), **{k: v for k, v in last.items() if k != "epoch"}}


def write_outputs(out: Outputs, trainer: Trainer, *, model: str, history: str, metrics: str, extra: dict | None = None) -> None:
    """A training stage's declared outputs: the checkpoint, per-epoch curves (CSV), metrics (JSON).

    Nothing in them measures time, so the same params and data give the same bytes (a resumed run too).
    """
    ckpt = trainer.checkpoint()
    ckpt["history"] = without_wall_clock(ckpt["history"])
    save_checkpoint(out.path(model), ckpt)
    out.text(history, history_csv(trainer.history))
    out.json(metrics, {**train_summary(trainer.history), **(extra or {})})


def finish_training(stage: str, trainer: Trainer, *, model: str, history: str, metrics: str, extra: dict | None = None,
                    figures: dict[str, Any] | None = None, record: dict | None = None,
                    outputs: Callable[[], contextlib.AbstractContextManager] = atomic_outputs) -> None:
    """The tail of every training stage: rank 0 writes the declared outputs atomically (checkpoint,
    history, metrics, figures), then the run record, then deletes the resume checkpoint; every rank
    leaves the process group.

    Args:
        stage: the stage's name (its run record is ``.reprolab/runs/<stage>.json``).
        model, history, metrics: the declared output paths.
        extra: more metrics (deterministic values only: no times).
        figures: declared PNG path → matplotlib figure.
        record: more wall-clock figures for the run record.
        outputs: the atomic-output context to write through (a stage passes its
            :meth:`stages.core.stage.Declared.outputs`, which checks every path is declared).
    """
    figures = figures or {}
    try:
        if trainer.is_main:
            with outputs() as out:
                write_outputs(out, trainer, model=model, history=history, metrics=metrics, extra=extra)
                for path, fig in figures.items():
                    out.figure(path, fig)
            write_run_record(stage, {**trainer.run_record(), **(record or {})}, outputs=[model, *figures])
            trainer.discard_resume()
        else:
            import matplotlib.pyplot as plt

            for fig in figures.values():
                plt.close(fig)
        barrier(trainer.dist)
    finally:
        shutdown()


# ---- building and running a stage's trainer -----------------------------------------------------

def adam_trainer(*, kind: str, nets: dict, lrs: dict[str, float], objective: Callable[[dict], Objective], model_args: dict,
                 p: Any, seed: int, device, key: str = "", resume: Path | None = None, desc: str | None = None, **options: Any) -> Trainer:
    """A :class:`Trainer` with one Adam per network, for freshly built ``nets`` (call after seeding).

    Args:
        kind, model_args, objective: see :class:`Trainer`.
        nets: the networks by name (moved to ``device`` here).
        lrs: each optimizer's learning rate, by network name (one optimizer per network).
        p: the stage's params section; reads ``betas``, ``epochs``, ``batch_size``, ``amp`` and
            ``checkpoint_every`` and stores the whole section in checkpoints.
        options: any other :class:`Trainer` option (schedulers, clipping, EMA…).
    """
    import torch

    nets = {n: m.to(device) for n, m in nets.items()}
    return Trainer(
        models=nets,
        optimizers={n: torch.optim.Adam(nets[n].parameters(), lr, betas=tuple(p.betas)) for n, lr in lrs.items()},
        objective=objective, kind=kind, model_args=model_args, params=p.model_dump(mode="json"),
        epochs=p.epochs, batch_size=p.batch_size, device=device, precision="fp16" if p.amp else "fp32", seed=seed,
        key=key, resume=resume, checkpoint_every=p.checkpoint_every, desc=desc or kind, **options,
    )


def fit_resumable(stage: str, make: Callable[[str, Path], Trainer], data, *, params: dict, seed: int, device,
                  inputs: dict[str, str], val=None) -> Trainer:
    """Build a trainer with :func:`run_key` and :func:`resume_path` of this run, and fit it.

    Args:
        stage: the stage's name (names its resume checkpoint).
        make: ``(key, resume path) → Trainer`` with freshly initialised networks.
        data, val: training and validation data for :meth:`Trainer.fit`.
        params: the stage's params section (plain dict); with ``seed``, the device type and the
            ``inputs`` (name → sha256 of each input file) it makes the key.

    Returns:
        the trained :class:`Trainer`.
    """
    key = run_key(stage=stage, params=params, seed=seed, inputs=inputs, device=device.type)
    trainer = make(key, resume_path(stage, key))
    trainer.fit(data, val)
    return trainer
