"""Process-level set-up for a stage: logging, seeding, device choice, and the error boundary."""
from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Callable

import numpy as np

from .errors import StageError

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


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's ``main`` with logging set up; a :class:`StageError` logs its message only and
    exits with :data:`BAD_INPUT_EXIT`.

    Anything else is a bug and keeps its traceback (exit 1).
    """
    setup_logging()
    try:
        main()
    except StageError as exc:
        log.error("%s", exc)
        sys.exit(BAD_INPUT_EXIT)
