"""The training loop: one or more networks, their optimizers, on 1..N processes, resumable.

Three layers are kept apart (see STYLE.md): the *network* (an ``nn.Module`` built from a config),
the *objective* (computes each loss from a batch, knows nothing of optimizers or devices) and the
:class:`Trainer` here: batches from a ``DataLoader`` moved to the device whatever they hold, mixed
precision, updates (gradient accumulation, clipping, LR schedules), an EMA copy of the weights, an
optional validation pass per epoch, the progress bar, per-epoch history, checkpoints and resume, on
1..N processes (torchrun + ``DistributedDataParallel``, see :mod:`stages.core.distributed`). A stage
does not build one by hand: :class:`stages.core.training.TrainingRun` does, from the stage's recipe.

Two kinds of objective. The usual one lists its updates (:class:`Objective`: ``steps()``, each an
optimizer name and a loss function of the batch), and the trainer runs backward and that update.
A loop that is not one update per step and batch (n critic steps per generator step, environment
rollouts, optimising an input) is a :class:`ManualObjective`: its ``iteration(batch, step)`` calls
``step.update(name, loss)`` as often as it needs and ``step.log(name, value)`` for anything else it
wants in the history, while the trainer still owns the epochs, the device and precision, gradient
scaling and clipping, schedulers, EMA, NaN checks, checkpoints and resume (an objective with
``state_dict()``/``load_state_dict()``, e.g. an environment's RNG, is saved in the checkpoint too).

Resume: with ``resume=`` set, the trainer saves a full checkpoint (models, optimizers, schedulers,
AMP scalers, EMA, every rank's RNG states, history) there after every ``checkpoint_every`` epochs,
with a sha256 sidecar checked before it is loaded, and on start continues from it when its ``key``
matches. The key is a hash of the stage's params and inputs (:func:`stages.core.training.run_key`),
so a changed param never resumes a stale run. A run killed before it finished leaves its checkpoint;
when the stage next starts with other params, that stale folder is deleted
(:meth:`Trainer._claim_resume_folder`). On CPU the resumed run ends byte-identical to an
uninterrupted one: the shuffle order depends only on (seed, epoch) (``DistributedSampler``), and
every other source of randomness (the global torch RNG for noise, the loader's generator) is saved
and restored.

Non-finite losses: a NaN or infinite loss in any step stops the run at the end of that epoch with a
:class:`~stages.core.errors.TrainingError` naming the loss, the epoch and the first such step, before
the epoch's checkpoint or any output is written (tracked on the device: no host sync per step).

Wall-clock figures (``seconds``, ``images_per_s``) stay in :attr:`Trainer.history` for the run
record (:mod:`stages.core.runs`) and are left out of every DVC-tracked output.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from .batches import Iterations, TensorData, batch_len, make_loader, set_epoch, to_device
from .checkpoint import load_checkpoint, save_checkpoint
from .device import Precision, autocast, precision_on
from .distributed import Dist, all_gather_objects, barrier, from_env
from .errors import DataError, IntegrityError, TrainingError

log = logging.getLogger(__name__)

WALL_CLOCK = ("seconds", "images_per_s")  # history columns that measure time, not the model
NO_STEP = 2**62  # "no non-finite loss seen yet" in the per-epoch tracker (min-reduced over ranks)



class Objective(Protocol):
    """Computes losses from a batch. ``steps()`` lists the updates of one iteration, in order: each
    is (optimizer name, function batch → scalar loss); the trainer runs backward and the update of
    that optimizer before computing the next loss (a GAN: discriminator first, then generator)."""

    def steps(self) -> list[tuple[str, Callable[[Any], Any]]]: ...


@runtime_checkable
class ManualObjective(Protocol):
    """The escape hatch: an iteration that is not one update per step and batch.

    ``updates`` names the optimizers it steps (each needs one). ``iteration(batch, step)`` computes
    its losses (under ``step.autocast()``) and calls ``step.update(name, loss)`` for every update, as
    often and in whatever order it needs (WGAN-GP: five critic updates, then one of the generator);
    ``step.log(name, value)`` puts the epoch's mean of anything else in the history. The data may be
    :class:`~stages.core.batches.Iterations` (no dataset: environment rollouts, an optimised image).
    Gradient accumulation does not apply (``accumulate`` must be 1).
    """

    updates: tuple[str, ...]

    def iteration(self, batch: Any, step: "Step") -> None: ...


class Step:
    """What a :class:`ManualObjective` updates through, one per iteration (made by the trainer)."""

    def __init__(self, trainer: "Trainer", sums: dict, counts: dict, first_bad: dict, index: int) -> None:
        self._trainer, self._sums, self._counts, self._first_bad, self._index = trainer, sums, counts, first_bad, index

    @property
    def device(self):
        return self._trainer.device

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward passes' precision context (fp16/bf16 on CUDA when the recipe asks for it)."""
        return autocast(self._trainer.device, self._trainer.precision)

    def update(self, name: str, loss) -> None:
        """Backward of ``loss`` and one update of optimizer ``name`` (scaling, clipping, its scheduler);
        the loss is recorded as ``loss_<name>`` (the epoch's mean over its updates)."""
        self._trainer._backward_and_step(name, [lambda: loss], self._sums, self._counts, self._first_bad, self._index)

    def log(self, name: str, value) -> None:
        """Add ``value`` (a number or a scalar tensor) to the epoch's mean of history column ``name``."""
        import torch

        self._trainer._record(name, torch.as_tensor(value, device=self._trainer.device).detach().float(),
                              self._sums, self._counts, self._first_bad, self._index)


class Trainer:
    """Minibatch training of one or more networks with one optimizer per update step.

    Args:
        models: the networks by name (their states go into checkpoints).
        optimizers: one per step name of the objective's ``steps()``.
        objective: an :class:`Objective` or :class:`ManualObjective`, or a function ``models →`` one
            of them; give a function for multi-process training, where it receives the DDP-wrapped
            networks (gradients are averaged over ranks only through the wrapper's forward).
        kind: the checkpoint's kind (e.g. ``"dcgan"``), checked when it is loaded.
        model_args: each network's config as plain dicts, stored in the checkpoint.
        params: the stage's validated params (plain dict), stored in the checkpoint.
        epochs: epochs to train in total (a resumed run trains the rest).
        batch_size: examples per batch and process (see :func:`make_loader`).
        device: from :func:`setup_torch`.
        precision: ``fp16`` (autocast + grad scaling), ``bf16`` (autocast) or ``fp32``; CUDA only,
            always fp32 on CPU.
        seed: seeds the shuffle order (per epoch) and the loader's workers.
        key: :func:`run_key` of the run; a resume checkpoint with another key is ignored.
        resume: resume checkpoint path (:func:`resume_path`), or None to never save or resume.
        checkpoint_every: epochs between resume checkpoints.
        checkpoint_last: write one after the last epoch too. :meth:`TrainingRun.fit
            <stages.core.training.TrainingRun.fit>` passes False: its ``finish`` writes the same state
            as the stage's declared output right after, and a resume checkpoint of a finished run is
            deleted unread (1 GB written and hashed for a VGG16 with its SGD momentum). A run killed
            between its last epoch and its outputs resumes from the checkpoint before.
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
                 model_args: dict, params: dict, epochs: int, batch_size: int, device, precision: Precision = "fp32",
                 seed: int, key: str = "", resume: Path | None = None, checkpoint_every: int = 1, checkpoint_last: bool = True,
                 desc: str = "train",
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
        if not isinstance(objective, type) and (hasattr(objective, "steps") or isinstance(objective, ManualObjective)):
            assert not self.dist.enabled, "with several processes, pass the objective as a function of the models"
            self.objective = objective
        else:
            self.objective = objective(self.nets)
        self.manual = isinstance(self.objective, ManualObjective)
        assert not (self.manual and accumulate != 1), "a ManualObjective makes its own updates: accumulate must be 1"
        names = list(self.objective.updates) if self.manual else [name for name, _ in self.objective.steps()]
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
        self.resume, self.checkpoint_every, self.checkpoint_last, self.desc = resume, checkpoint_every, checkpoint_last, desc
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
            **({"objective": self.objective.state_dict()} if hasattr(self.objective, "state_dict") else {}),
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
        if hasattr(self.objective, "load_state_dict") and "objective" in ckpt:
            self.objective.load_state_dict(ckpt["objective"])
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

        if isinstance(data, (DataLoader, Iterations)):
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

    def _record(self, column: str, value, sums: dict, counts: dict, first_bad: dict, step: int) -> None:
        """Add a detached loss or metric to the epoch's sums; ``first_bad[column]`` (a device tensor)
        takes ``step`` at its first non-finite value, without a host sync per step."""
        import torch

        if column not in sums:
            sums[column] = torch.zeros((), device=self.device)
            first_bad[column] = torch.full((), NO_STEP, dtype=torch.long, device=self.device)
        sums[column] += value
        counts[column] = counts.get(column, 0) + 1
        seen = first_bad[column]
        seen.copy_(torch.where(torch.isfinite(value) | (seen != NO_STEP), seen, torch.full_like(seen, step)))

    def _backward_and_step(self, name: str, losses: list[Callable[[], Any]], sums: dict, counts: dict, first_bad: dict,
                           step: int) -> None:
        """One update of optimizer ``name``: backward of each loss ``losses`` computes (several: an
        accumulation, the gradients summed), gradient clipping, the optimizer and gradient-scaler step,
        then its scheduler when it steps per update."""
        import torch

        opt, scaler = self.optimizers[name], self.scalers[name]
        opt.zero_grad(set_to_none=True)
        n = len(losses)
        for i, compute in enumerate(losses):
            with contextlib.nullcontext() if i == n - 1 else self._no_sync():
                with autocast(self.device, self.precision):
                    loss = compute()
                scaler.scale(loss / n if n > 1 else loss).backward()
            self._record(f"loss_{name}", loss.detach().float(), sums, counts, first_bad, step)
        if self.clip_grad_norm is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], self.clip_grad_norm)
        scaler.step(opt)
        scaler.update()
        if self.schedule_every == "step" and name in self.schedulers:
            self.schedulers[name].step()

    def _update(self, group: list, sums: dict, counts: dict, first_bad: dict, step: int) -> None:
        """One iteration over a ``group`` of batches (an accumulation): each of the objective's steps,
        or the manual objective's own iteration, then the EMA copies."""
        if self.manual:
            self.objective.iteration(group[0], Step(self, sums, counts, first_bad, step))
        else:
            for name, loss_fn in self.objective.steps():
                self._backward_and_step(name, [functools.partial(loss_fn, batch) for batch in group], sums, counts,
                                        first_bad, step)
        for n, e in self.ema.items():
            e.update_parameters(self.models[n])

    def _stop_if_not_finite(self, sums: dict, first_bad: dict, per_epoch: int) -> None:
        """Stop the run when a loss of this epoch was NaN or infinite (called before anything is saved).

        ``sums`` are the epoch's sums by history column, already reduced over the ranks, so every rank takes the
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
            f"{self.desc}: {name} is not finite (NaN or inf) at epoch {self.epoch + 1} of {self.epochs}, {where}; "
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
        per_epoch = max(1, len(train_loader) // self.accumulate)
        bar = tqdm(total=(self.epochs - self.epoch) * per_epoch, desc=self.desc, unit="step", mininterval=1.0,
                   leave=False, disable=not self.is_main)
        for m in self.models.values():
            m.train()
        while self.epoch < self.epochs:
            start = time.perf_counter()
            set_epoch(train_loader, self.epoch)
            sums: dict[str, Any] = {}  # history column -> the epoch's sum (a device tensor), in first-seen order
            counts: dict[str, int] = {}
            first_bad: dict[str, Any] = {}
            seen = updates = 0
            group: list = []
            for batch in train_loader:
                group.append(to_device(batch, self.device, non_blocking=True))
                if len(group) < self.accumulate:
                    continue
                updates += 1
                self._update(group, sums, counts, first_bad, updates)
                seen += sum(batch_len(b) for b in group)
                group = []
                bar.update()
            if group:  # an epoch's last, short accumulation
                updates += 1
                self._update(group, sums, counts, first_bad, updates)
                seen += sum(batch_len(b) for b in group)
            if self.schedule_every == "epoch":
                for s in self.schedulers.values():
                    s.step()
            if self.dist.enabled:  # mean over every rank's batches
                keys = list(sums)
                stacked = torch.stack([sums[k] for k in keys] + [torch.tensor(float(counts[k]), device=self.device) for k in keys])
                tdist.all_reduce(stacked)
                sums = {k: stacked[i] for i, k in enumerate(keys)}
                counts = {k: int(stacked[len(keys) + i].item()) for i, k in enumerate(keys)}
                seen *= self.dist.world_size
            self._stop_if_not_finite(sums, first_bad, updates)
            self.epoch += 1
            row: dict[str, float] = {"epoch": self.epoch, **{k: float(v) / max(counts[k], 1) for k, v in sums.items()}}
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
            last = self.epoch == self.epochs
            due = self.checkpoint_last if last else self.epoch % self.checkpoint_every == 0
            if self.resume is not None and due and self.is_main:
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
