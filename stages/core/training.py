"""The one training stage: a pipeline's train stage declares its networks, data, objective and
recipe; :class:`TrainingRun` does the rest.

A train stage reads, top to bottom (nanoGPT's whole loop is one screen; so is a stage here)::

    def main(stage: Declared) -> None:
        train_params = params.load().train                     # a Recipe plus the network's keys
        run = TrainingRun(stage, train_params, kind="ddpm")    # processes, seeds, device
        images = load_images(stage.dep("train.npz"))
        trainer = run.fit(models=lambda: {"unet": UNet(cfg)}, model_args=cfg.as_dict(),
                          objective=lambda nets: DDPMObjective(nets["unet"], schedule),
                          data=images, inputs={"train": stage.dep("train.npz")})
        run.finish(extra={"n_train": len(images)})             # model.pt, history.csv, metrics.json

What core owns, so no pipeline repeats it: torchrun for ``nproc_per_node`` > 1, the seed
(``recipe.seed`` or ``common.seed``) and the device (``common.device``), the optimizers and LR
schedules the recipe names (one per network, or the pipeline's parameter groups through
``optimizers=``), precision, clipping, EMA, the resume key and checkpoint (a killed run of the same
params and inputs continues), the loop (:class:`stages.core.trainer.Trainer`), and the finish: the
declared checkpoint, per-epoch history (CSV) and metrics written atomically, figures, the run record,
the resume checkpoint deleted. A loop that is not one update per batch is a
:class:`~stages.core.trainer.ManualObjective` and gets all of the same.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batches import Iterations
from .checkpoint import save_checkpoint
from .device import setup_torch
from .distributed import barrier, from_env, launch, shutdown
from .io import Outputs, atomic_outputs, dumps_json, sha256_file
from .recipe import Recipe, steps_per_epoch
from .runs import write_run_record
from .trainer import WALL_CLOCK, Trainer

if TYPE_CHECKING:
    from .stage import Declared

log = logging.getLogger(__name__)

CHECKPOINTS_ENV = "REPROLAB_CHECKPOINTS"


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


def input_digest(value: str | Path) -> str:
    """What identifies one input in the resume key: a file's sha256, one hash over a folder's files
    (names and bytes), or a string as it is."""
    if not isinstance(value, Path):
        return str(value)
    if value.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in value.rglob("*") if p.is_file()):
            h.update(f.relative_to(value).as_posix().encode() + b"\0" + sha256_file(f).encode())
        return h.hexdigest()
    return sha256_file(value)


class TrainingRun:
    """One training stage's run (see the module's docstring).

    Constructing it launches torchrun when ``recipe.nproc_per_node`` > 1 (this process then exits with
    torchrun's status), seeds every RNG and picks the device: build the data after it, the networks
    inside :meth:`fit`.

    Args:
        stage: the stage's declaration (its name, module and outputs); or, in a test or benchmark
            that trains in process and writes nothing, just a name.
        recipe: the stage's training section (a :class:`~stages.core.recipe.Recipe`).
        kind: the checkpoint's kind (``dcgan``, ``vit``…), checked when it is loaded.
        device, seed: override ``common.device`` and the recipe's seed (tests, benchmarks).
    """

    def __init__(self, stage: Declared | str, recipe: Recipe, *, kind: str, device: str | None = None,
                 seed: int | None = None) -> None:
        from .params import load_common

        self.stage = stage if not isinstance(stage, str) else None
        self.name = stage if isinstance(stage, str) else stage.name
        self.recipe, self.kind = recipe, kind
        common = load_common() if device is None or (seed is None and recipe.seed is None) else None
        self.seed = seed if seed is not None else recipe.seed if recipe.seed is not None else common.seed
        if self.stage is not None:
            launch(recipe.nproc_per_node, self.stage.module)  # N > 1: this command again under torchrun
        self.device = setup_torch(self.seed, device or common.device)
        self.trainer: Trainer | None = None

    def build(self, *, models: Callable[[], dict[str, Any]], objective: Callable[[dict], Any], data, model_args: dict,
              val_step: Callable[[dict], Callable[[Any], dict]] | None = None,
              optimizers: Callable[[dict], dict[str, Any]] | None = None, params: dict | None = None,
              ema_models: tuple[str, ...] | None = None, key: str = "", resume: Path | None = None,
              checkpoint_last: bool = True) -> Trainer:
        """The :class:`~stages.core.trainer.Trainer` of this recipe, not yet fitted (see :meth:`fit` for
        the arguments; ``data`` is read for its length only, ``key``/``resume``/``checkpoint_last`` as
        the trainer takes them)."""
        recipe = self.recipe
        world = from_env().world_size
        per_epoch = len(data) if isinstance(data, Iterations) else steps_per_epoch(len(data), recipe.batch_size, world, recipe.accumulate)
        nets = {n: m.to(self.device) for n, m in models().items()}
        if optimizers is not None:
            opts = optimizers(nets)
        else:
            names = list(recipe.lr) if isinstance(recipe.lr, dict) else list(nets)
            opts = {n: recipe.optimizer_for(nets[n].parameters(), recipe.lr_of(n)) for n in names}
        schedulers = {n: s for n, o in opts.items() if (s := recipe.scheduler_for(o, per_epoch)) is not None}
        return Trainer(models=nets, optimizers=opts, objective=objective, kind=self.kind, model_args=model_args,
                       params=params if params is not None else recipe.model_dump(mode="json"), epochs=recipe.epochs,
                       batch_size=recipe.batch_size, device=self.device, precision=recipe.precision, seed=self.seed, key=key,
                       resume=resume, checkpoint_every=recipe.checkpoint_every, checkpoint_last=checkpoint_last,
                       desc=self.name, schedulers=schedulers,
                       clip_grad_norm=recipe.clip_grad_norm, accumulate=recipe.accumulate, ema_decay=recipe.ema_decay,
                       ema_models=ema_models, val_step=val_step(nets) if val_step is not None else None,
                       validate_every=recipe.validate_every)

    def fit(self, *, models: Callable[[], dict[str, Any]], objective: Callable[[dict], Any], data, model_args: dict,
            val=None, val_step: Callable[[dict], Callable[[Any], dict]] | None = None,
            optimizers: Callable[[dict], dict[str, Any]] | None = None, inputs: dict[str, str | Path] | None = None,
            key: dict | None = None, params: dict | None = None, ema_models: tuple[str, ...] | None = None) -> Trainer:
        """Build the networks, optimizers and trainer (or resume a killed run of the same key) and train.

        Args:
            models: ``() → {name: network}``, called once the RNGs are seeded (the initial weights).
            objective: ``networks → Objective`` (or ``ManualObjective``); under torchrun it gets the
                DDP-wrapped networks.
            data, val: training and validation data (a dataset, a tensor, a ``DataLoader``, or
                :class:`~stages.core.batches.Iterations`).
            model_args: each network's config, stored in the checkpoint (what it is rebuilt from).
            val_step: ``networks → (batch → {metric: batch mean})``, run on ``val``.
            optimizers: ``networks → {name: optimizer}`` for parameter groups (build each with
                ``recipe.optimizer_for``); default: one optimizer per network at ``recipe.lr_of(name)``
                (with a per-network ``lr`` mapping, the networks it names).
            inputs: what the run reads, for the resume key: a path (hashed) or a digest per name.
            key: more of what identifies the run (params read from outside the recipe).
            params: what the checkpoint stores as the run's params (default: the recipe).
            ema_models: the networks ``recipe.ema_decay`` averages (default all).
        """
        digest = run_key(stage=self.name, params={"recipe": self.recipe.model_dump(mode="json"), **(key or {})},
                         seed=self.seed, inputs={k: input_digest(v) for k, v in (inputs or {}).items()},
                         device=self.device.type)
        self.trainer = self.build(models=models, objective=objective, data=data, model_args=model_args, val_step=val_step,
                                  optimizers=optimizers, params=params, ema_models=ema_models, key=digest,
                                  resume=resume_path(self.name, digest), checkpoint_last=False)  # finish() writes it
        self.trainer.fit(data, val)
        return self.trainer

    def finish(self, *, extra: dict | None = None, figures: dict[str, Any] | None = None, record: dict | None = None,
               model: str | Path | None = "model.pt", history: str | Path = "history.csv", metrics: str | Path = "metrics.json",
               write: Callable[[Outputs], None] | None = None, run_outputs: tuple = (),
               outputs: Callable[[], contextlib.AbstractContextManager] | None = None) -> None:
        """Write the declared outputs (rank 0, atomically), the run record, delete the resume checkpoint.

        Args:
            extra: more metrics (deterministic values only: no times).
            figures: output path (or its declared suffix) → matplotlib figure.
            record: more wall-clock figures for the run record.
            model, history, metrics: the checkpoint, per-epoch CSV and metrics JSON: a declared output's
                suffix (``model.pt``) or a path; ``model=None`` writes no checkpoint (``write`` does).
            write: writes more outputs in the same atomic step (e.g. weights in another format).
            run_outputs: more outputs whose hashes the run record keeps.
            outputs: the atomic-output context (default: the stage's, which checks each path is declared).
        """
        assert self.trainer is not None, "finish() comes after fit()"
        assert self.stage is not None, "finish() writes a stage's declared outputs: give TrainingRun the stage"
        out_path = self._declared
        figures = {out_path(p): f for p, f in (figures or {}).items()}
        finish_training(self.name, self.trainer, outputs=outputs or self.stage.outputs,
                        model=out_path(model) if model is not None else None, history=out_path(history),
                        metrics=out_path(metrics), extra=extra, figures=figures, record=record, write=write,
                        run_outputs=tuple(out_path(p) for p in run_outputs))

    def _declared(self, path: str | Path) -> Path:
        """A declared output by its suffix, or ``path`` itself when it is one already."""
        path = Path(path)
        return path if self.stage.owner(path) is not None else self.stage.out(str(path))


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


# What only resuming a killed run reads (the resume checkpoint keeps them): left out of the declared
# model.pt, which holds what using the model needs. The optimizer's state is the bulk of a checkpoint
# (SGD's momentum as large as the weights, Adam's moments twice as large), and every byte of a declared
# output is written once and hashed twice (the run record, DVC): VGG16's model.pt 1.07 GB -> 0.55 GB.
RESUME_ONLY = ("optimizers", "schedulers", "scalers")


def output_checkpoint(trainer: Trainer, **replace: Any) -> dict[str, Any]:
    """The checkpoint a stage writes as its declared output: the trainer's less :data:`RESUME_ONLY`,
    without the wall-clock history columns (the same run gives the same bytes), with ``replace``'s
    entries swapped in (a stage storing its networks in another form: pruning's masks folded, int8
    state dicts)."""
    ckpt = {k: v for k, v in trainer.checkpoint().items() if k not in RESUME_ONLY}
    return {**ckpt, "history": without_wall_clock(ckpt["history"]), **replace}


def write_outputs(out: Outputs, trainer: Trainer, *, model: str | Path | None, history: str | Path, metrics: str | Path,
                  extra: dict | None = None) -> None:
    """A training stage's declared outputs: the checkpoint (less :data:`RESUME_ONLY`), per-epoch curves
    (CSV), metrics (JSON).

    Nothing in them measures time, so the same params and data give the same bytes (a resumed run too).
    """
    if model is not None:
        save_checkpoint(out.path(model), output_checkpoint(trainer))
    out.text(history, history_csv(trainer.history))
    out.json(metrics, {**train_summary(trainer.history), **(extra or {})})


def finish_training(stage: str, trainer: Trainer, *, model: str | Path | None, history: str | Path, metrics: str | Path,
                    extra: dict | None = None, figures: dict[str, Any] | None = None, record: dict | None = None,
                    write: Callable[[Outputs], None] | None = None, run_outputs: tuple = (),
                    outputs: Callable[[], contextlib.AbstractContextManager] = atomic_outputs) -> None:
    """The tail of every training stage: rank 0 writes the declared outputs atomically (checkpoint,
    history, metrics, figures), then the run record, then deletes the resume checkpoint; every rank
    leaves the process group.

    Args:
        stage: the stage's name (its run record is ``.reprolab/runs/<stage>.json``).
        model, history, metrics: the declared output paths.
        extra: more metrics (deterministic values only: no times).
        figures: declared PNG path → matplotlib figure.
        write: writes more outputs inside the same atomic step.
        run_outputs: more outputs whose hashes the run record keeps.
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
                if write is not None:
                    write(out)
            kept = [p for p in (model, *figures, *run_outputs) if p is not None]
            write_run_record(stage, {**trainer.run_record(), **(record or {})}, outputs=kept)
            trainer.discard_resume()
        else:
            import matplotlib.pyplot as plt

            for fig in figures.values():
                plt.close(fig)
        barrier(trainer.dist)
    finally:
        shutdown()
