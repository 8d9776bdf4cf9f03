"""Training machinery for every model stage: device and precision, seeding, the loop, resume.

Three layers are kept apart (see STYLE.md): the *network* (an ``nn.Module`` built from a config),
the *objective* (computes each loss from a batch, knows nothing of optimizers or devices) and the
:class:`Trainer` here (batches, device, mixed precision, updates, progress bar, per-epoch metrics,
checkpoints, resume).

Resume: with ``resume=`` set, the trainer saves a full checkpoint (models, optimizers, AMP scalers,
RNG states, history) there after every ``checkpoint_every`` epochs, and on start continues from it
when its ``key`` matches. The key is a hash of the stage's params and inputs (:func:`run_key`), so a
changed param never resumes a stale run. On CPU the resumed run ends bit-identical to an
uninterrupted one: every source of randomness the loop uses (the global torch RNG for noise and
init, a dedicated generator for the shuffle order) is saved and restored.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import DataError
from .io import Outputs, dumps_json
from .runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)

CHECKPOINTS_ENV = "REPROLAB_CHECKPOINTS"
WALL_CLOCK = ("seconds", "images_per_s")  # history columns that measure time, not the model


def setup_torch(seed: int, device: str = "auto"):
    """Seed every RNG, pick the device (``auto`` → CUDA when present), make CPU kernels deterministic.

    Returns:
        the ``torch.device`` to train on.
    """
    import torch

    dev = torch.device(resolve_device(device))
    seed_everything(seed)  # python, numpy and torch (CPU and every CUDA device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    return dev


def autocast(device, amp: bool) -> contextlib.AbstractContextManager:
    """Mixed precision (float16) on CUDA when ``amp``; a no-op on CPU."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp_enabled(device, amp))


def amp_enabled(device, amp: bool) -> bool:
    return bool(amp) and device.type == "cuda"


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


class Objective(Protocol):
    """Computes losses from a batch. ``steps()`` lists the updates of one iteration, in order: each
    is (optimizer name, function batch → scalar loss); the trainer runs backward and the update of
    that optimizer before computing the next loss (a GAN: discriminator first, then generator)."""

    def steps(self) -> list[tuple[str, Callable[[Any], Any]]]: ...


class Trainer:
    """Minibatch training of one or more networks with one optimizer per update step.

    Args:
        models: the networks by name (put in train mode; their states go into checkpoints).
        optimizers: one per step name of ``objective.steps()``.
        objective: see :class:`Objective`.
        kind: the checkpoint's kind (e.g. ``"dcgan"``), checked when it is loaded.
        model_args: each network's config as plain dicts, stored in the checkpoint.
        params: the stage's validated params (plain dict), stored in the checkpoint.
        epochs: epochs to train in total (a resumed run trains the rest).
        batch_size: images per update; the last partial batch of an epoch is dropped (BatchNorm
            cannot train on a batch of one) unless the data is smaller than one batch.
        device: from :func:`setup_torch`.
        amp: float16 autocast + grad scaling on CUDA (ignored on CPU).
        seed: seeds the shuffle order.
        key: :func:`run_key` of the run; a resume checkpoint with another key is ignored.
        resume: resume checkpoint path (:func:`resume_path`), or None to never save or resume.
        checkpoint_every: epochs between resume checkpoints.
        desc: progress-bar label.
    """

    def __init__(self, *, models: dict, optimizers: dict, objective: Objective, kind: str, model_args: dict,
                 params: dict, epochs: int, batch_size: int, device, amp: bool, seed: int, key: str,
                 resume: Path | None = None, checkpoint_every: int = 1, desc: str = "train") -> None:
        import torch

        names = [name for name, _ in objective.steps()]
        missing = [n for n in names if n not in optimizers]
        assert not missing, f"the objective's step(s) {missing} have no optimizer (got {sorted(optimizers)})"
        assert epochs >= 1 and batch_size >= 1 and checkpoint_every >= 1, "epochs, batch_size, checkpoint_every must be >= 1"
        self.models, self.optimizers, self.objective = models, optimizers, objective
        self.kind, self.model_args, self.params = kind, model_args, params
        self.epochs, self.batch_size, self.device, self.key = epochs, batch_size, device, key
        self.amp = amp_enabled(device, amp)
        self.scalers = {n: torch.amp.GradScaler("cuda", enabled=self.amp) for n in names}
        self.shuffle = torch.Generator().manual_seed(seed)
        self.resume, self.checkpoint_every, self.desc = resume, checkpoint_every, desc
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.resumed_from = 0

    # -- state ------------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """The full, self-describing state after the last completed epoch."""
        import torch

        return {
            "kind": self.kind,
            "model_args": self.model_args,
            "params": self.params,
            "epoch": self.epoch,
            "key": self.key,
            "models": {n: m.state_dict() for n, m in self.models.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "shuffle": self.shuffle.get_state(),
            },
            "history": list(self.history),
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from ``ckpt`` (as written by :meth:`checkpoint`)."""
        import torch

        for n, m in self.models.items():
            m.load_state_dict(ckpt["models"][n])
        for n, o in self.optimizers.items():
            o.load_state_dict(ckpt["optimizers"][n])
        for n, s in self.scalers.items():
            if ckpt.get("scalers", {}).get(n):
                s.load_state_dict(ckpt["scalers"][n])
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        if ckpt["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["rng"]["cuda"]])
        self.shuffle.set_state(ckpt["rng"]["shuffle"].cpu())
        self.epoch = int(ckpt["epoch"])
        self.history = list(ckpt["history"])
        self.resumed_from = self.epoch

    def _try_resume(self) -> None:
        if self.resume is None or not self.resume.exists():
            return
        try:
            ckpt = load_checkpoint(self.resume, map_location=self.device, kind=self.kind)
        except DataError as exc:  # a torn or foreign file: start over rather than fail
            log.warning("%s: ignoring unreadable resume checkpoint (%s)", self.resume, exc)
            return
        if ckpt.get("key") != self.key or ckpt["epoch"] > self.epochs:
            log.info("%s: resume checkpoint is for other params; starting over", self.resume)
            return
        self.restore(ckpt)
        log.info("resuming from %s: %d of %d epochs done", self.resume, self.epoch, self.epochs)

    def discard_resume(self) -> None:
        """Delete the resume checkpoint (call once the stage's outputs are written)."""
        if self.resume is not None and self.resume.parent.exists():
            shutil.rmtree(self.resume.parent)

    # -- loop -------------------------------------------------------------------------------
    def batches(self, n: int) -> Iterator:
        """Index tensors of one epoch's batches (a fresh shuffle from the trainer's generator)."""
        import torch

        perm = torch.randperm(n, generator=self.shuffle)
        size = min(self.batch_size, n)
        for start in range(0, n - size + 1, size):
            yield perm[start:start + size]

    def fit(self, data) -> list[dict[str, float]]:
        """Train on ``data`` (a tensor whose first axis indexes examples) up to ``epochs``.

        Returns:
            the per-epoch history: ``epoch``, ``loss_<step>`` (mean over the epoch's batches),
            ``seconds`` and ``images_per_s``.
        """
        import torch
        from tqdm.auto import tqdm

        self._try_resume()
        data = data.to(self.device)
        n = len(data)
        steps = self.objective.steps()
        per_epoch = n // min(self.batch_size, n)
        bar = tqdm(total=(self.epochs - self.epoch) * per_epoch, desc=self.desc, unit="batch", mininterval=1.0, leave=False)
        for m in self.models.values():
            m.train()
        while self.epoch < self.epochs:
            start = time.perf_counter()
            sums = {name: torch.zeros((), device=self.device) for name, _ in steps}
            seen = 0
            for idx in self.batches(n):
                batch = data[idx.to(self.device)]
                for name, loss_fn in steps:
                    opt, scaler = self.optimizers[name], self.scalers[name]
                    opt.zero_grad(set_to_none=True)
                    with autocast(self.device, self.amp):
                        loss = loss_fn(batch)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                    sums[name] += loss.detach().float()
                seen += len(idx)
                bar.update()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - start
            self.epoch += 1
            row = {"epoch": self.epoch, **{f"loss_{k}": float(v) / per_epoch for k, v in sums.items()},
                   "seconds": seconds, "images_per_s": seen / seconds}
            self.history.append(row)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.startswith("loss_")})
            if self.resume is not None and (self.epoch % self.checkpoint_every == 0 or self.epoch == self.epochs):
                save_checkpoint(self.resume, self.checkpoint())
        bar.close()
        if self.history:
            last = self.history[-1]
            log.info("%s: %d epochs (%d resumed); last epoch %s", self.desc, self.epoch, self.resumed_from,
                     ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
        return self.history


def history_csv(history: list[dict[str, float]]) -> str:
    """Per-epoch history as CSV text (header from the first row), for ``dvc plots``."""
    if not history:
        return ""
    cols = list(history[0])
    lines = [",".join(cols)] + [",".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in cols) for row in history]
    return "\n".join(lines) + "\n"


def train_summary(history: list[dict[str, float]]) -> dict[str, float]:
    """Metrics for a training stage: epochs, last-epoch losses, total seconds, mean images/s."""
    if not history:
        return {"epochs": 0}
    last = history[-1]
    seconds = sum(r["seconds"] for r in history)
    return {
        "epochs": int(last["epoch"]),
        **{k: v for k, v in last.items() if k.startswith("loss_")},
        "train_seconds": seconds,
        "images_per_s": sum(r["images_per_s"] for r in history) / len(history),
    }


def write_outputs(out: Outputs, trainer: Trainer, *, model: str, history: str, metrics: str, extra: dict | None = None) -> None:
    """A training stage's declared outputs: the checkpoint, per-epoch curves (CSV), metrics (JSON)."""
    ckpt = trainer.checkpoint()
    # wall-clock columns differ from run to run; kept out of the checkpoint so that the same params
    # and data give a bit-identical model file (and DVC does not rerun what depends on it)
    ckpt["history"] = [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in ckpt["history"]]
    save_checkpoint(out.path(model), ckpt)
    out.text(history, history_csv(trainer.history))
    out.json(metrics, {**train_summary(trainer.history), "resumed_from_epoch": trainer.resumed_from, **(extra or {})})
