"""Process-level set-up for a stage: its declaration, logging, seeding, device choice, and the error boundary."""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Callable

import numpy as np

from .errors import StageError
from .stage import Declared, declared

log = logging.getLogger("reprolab")


def setup_logging(level: str | None = None) -> None:
    """Log to stderr as ``HH:MM:SS LEVEL logger: message``; level from ``REPROLAB_LOG_LEVEL``."""
    logging.basicConfig(
        level=(level or os.environ.get("REPROLAB_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when imported) PyTorch; return a NumPy generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise StageError("common.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return device


# Exit status of a stage stopped by a StageError (bad params or data): distinct from a bug's 1, so the
# Prefect flow does not retry what only a user can fix (pipelines/flows.py reads it from DVC's output).
BAD_INPUT_EXIT = 2


def _module_name(main: Callable) -> str:
    """The dotted name of the module defining ``main``, also when it runs as ``python -m`` (``__main__``)."""
    spec = main.__globals__.get("__spec__")
    return spec.name if spec is not None else main.__module__


def run_stage(main: Callable[[Declared], None], argv: list[str] | None = None) -> None:
    """Run a stage's ``main`` with its dvc.yaml declaration, logging set up.

    The stage takes no command-line arguments: every path it reads or writes is declared once, in its
    dvc.yaml entry (the one whose ``cmd`` runs its module). ``--help`` prints the module docstring and
    that declaration. A :class:`StageError` logs its message only and exits with
    :data:`BAD_INPUT_EXIT` (as does an unexpected argument); anything else is a bug and keeps its
    traceback (exit 1).

    Args:
        main: the stage's ``main(stage)``.
        argv: command-line arguments (default ``sys.argv[1:]``); only ``-h``/``--help`` is accepted.
    """
    module = _module_name(main)
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=main.__globals__.get("__doc__"),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    setup_logging()
    stage: Declared | None = None
    try:
        stage = declared(module)
        ap.epilog = f"{stage.describe()}\n\nPaths live in dvc.yaml only; run the stage with `dvc repro {stage.name}`."
    except StageError as exc:
        error, ap.epilog = exc, f"not runnable here: {exc}"
    ap.parse_args(argv)  # --help prints and exits; any argument is an error
    try:
        if stage is None:
            raise error
        main(stage)
    except StageError as exc:
        log.error("%s", exc)
        sys.exit(BAD_INPUT_EXIT)
