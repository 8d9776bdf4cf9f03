"""Self-describing PyTorch checkpoints.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts) so that it loads with
``torch.load(weights_only=True)``: nothing in it can run code when it is read. It carries what is
needed to rebuild and use the model with no other file::

    {"format": "reprolab-checkpoint/1",
     "kind": "dcgan",                      # which builder reads it
     "model_args": {...},                  # the config each network is built from
     "params": {...},                      # the stage's params section, as validated
     "epoch": 30,                          # epochs completed
     "models": {"g": state_dict, ...},
     "optimizers": {"g": state_dict, ...},
     "scalers": {"g": state_dict, ...},    # AMP grad scalers (empty dicts on CPU)
     "rng": {"torch": ByteTensor, "cuda": [...], "shuffle": ByteTensor},
     "history": [{"epoch": 1, "loss_d": ...}, ...],
     "key": "…"}                           # hash of params + inputs (see stages.core.training)

:func:`load_checkpoint` maps every tensor to the requested device (``map_location``), so a model
trained on a GPU loads on a CPU-only host.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .errors import DataError
from .io import require_file

FORMAT = "reprolab-checkpoint/1"
REQUIRED = ("format", "kind", "model_args", "params", "epoch", "models")


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file in the same folder, then rename).

    Used for the resume checkpoints outside DVC's outputs, and by
    :func:`stages.core.training.write_outputs` for a stage's declared checkpoint (there ``path`` is
    already a temporary name of :func:`stages.core.io.atomic_outputs`).
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    # Serialise to memory: given a file name, torch.save names the zip's inner folder after it (and
    # the temporary name carries the PID), so the same checkpoint would give different bytes.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **checkpoint}, buffer)
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: Any = "cpu", kind: str | None = None) -> dict[str, Any]:
    """Load a checkpoint written by this project, safely (``weights_only=True``).

    Args:
        path: the ``.pt`` file.
        map_location: device for every tensor (``"cpu"`` loads a GPU-trained model on a CPU host).
        kind: when given, the checkpoint must be of this kind (e.g. ``"dcgan"``).

    Raises:
        DataError: missing, unreadable, not one of ours, or of another kind.
    """
    import pickle

    import torch

    path = require_file(path, "checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} checkpoint (got format {ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r})")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise DataError(f"{path}: checkpoint lacks field(s): {', '.join(missing)}")
    if kind is not None and ckpt["kind"] != kind:
        raise DataError(f"{path}: checkpoint holds a {ckpt['kind']!r} model, expected {kind!r}")
    return ckpt
