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
     "optimizers": {"g": state_dict, ...}, # these three in resume checkpoints only (a stage's declared
     "schedulers": {"g": state_dict, ...}, #   model.pt leaves them out: stages.core.training.RESUME_ONLY)
     "scalers": {"g": state_dict, ...},    # AMP grad scalers (empty dicts on CPU)
     "rng": {"torch": ByteTensor, "cuda": [...], "shuffle": ByteTensor},
     "history": [{"epoch": 1, "loss_d": ...}, ...],
     "key": "…"}                           # hash of params + inputs (see stages.core.training)

:func:`load_checkpoint` maps every tensor to the requested device (``map_location``), so a model
trained on a GPU loads on a CPU-only host.

Resume checkpoints (outside DVC's outputs, see :mod:`stages.core.training`) are written with a
sidecar ``<name>.sha256`` (``sidecar=True``) and loaded with ``verify=True``: the content hash is
checked *before* ``torch.load`` reads a byte of it, so a flipped or swapped file is refused.
Containers are written canonically (tuples as lists), so a resumed run, whose optimizer state went
through a save and a load, gives the same bytes as an uninterrupted one.
"""
from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any

from .errors import DataError, IntegrityError
from .io import HASH_SUFFIX, require_file

FORMAT = "reprolab-checkpoint/1"
REQUIRED = ("format", "kind", "model_args", "params", "epoch", "models")


def load_failure(path: Path, exc: BaseException, what: str, remedy: str) -> str:
    """One line saying why ``torch.load(weights_only=True)`` refused ``path``, ending with what to do.

    torch's refusal of a pickle that asks for a Python object advises re-running with
    ``weights_only=False``, which would run whatever the file holds. That advice is never passed on:
    the message names the object the file asked for and ends with ``remedy``.

    Args:
        path: the file, named first.
        exc: what ``torch.load`` raised.
        what: what the file should have been ("PyTorch weights file").
        remedy: the sentence the message ends with (what the user should do).
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch bolds part of its advice with ANSI codes
    asked = re.search(r"GLOBAL ([\w.]+)", text)
    if asked:
        return (f"{path}: refused: holds a pickled Python object ({asked.group(1)}), not only tensors, and loading it "
                f"could run code; nothing in it was run. {remedy}")
    # torch's own lines about weights_only (its advice included) are left out; what is left says what is wrong
    lines = [line.strip() for line in text.replace("WeightsUnpickler error:", "\n").splitlines()]
    detail = next((line for line in lines if line and not any(w in line for w in _TORCH_ADVICE)), "").split(". ")[0]
    return f"{path}: not a readable {what} ({type(exc).__name__}{': ' + detail[:200] if detail else ''}). {remedy}"


_TORCH_ADVICE = ("weights_only", "Weights only load failed", "trusted source", "trust the source", "Check the documentation",
                 "Please file an issue", "Alternatively", "safe_globals")


def canonical(obj: Any) -> Any:
    """``obj`` rebuilt so that its pickle depends on its values only, not on its history.

    Pickle memoises by object identity: a string seen twice is written once and then referenced, so
    the bytes depend on whether two equal strings are the same object. A state dict built in this
    process shares its key strings (``"betas"`` in every optimizer param group); one that came back
    from ``torch.load`` holds fresh copies. A resumed run would then pickle other bytes than an
    uninterrupted one. Here every string is interned (equal strings: one object) and every tuple
    becomes a list (the type may differ after a round trip); dicts and lists are rebuilt, tensors kept.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {canonical(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    return obj


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any], *, sidecar: bool = False) -> None:
    """Write ``checkpoint`` to ``path`` atomically (temporary file in the same folder, then rename).

    Used for the resume checkpoints outside DVC's outputs (``sidecar=True``: the sha256 of the bytes
    goes to ``<path>.sha256``, checked by ``load_checkpoint(verify=True)``), and by
    :func:`stages.core.training.write_outputs` for a stage's declared checkpoint (there ``path`` is
    already a temporary name of :func:`stages.core.io.atomic_outputs`, and DVC hashes the file).
    """
    import hashlib

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    # Serialise to memory: given a file name, torch.save names the zip's inner folder after it (and
    # the temporary name carries the PID), so the same checkpoint would give different bytes.
    buffer = io.BytesIO()
    torch.save(canonical({"format": FORMAT, **checkpoint}), buffer)
    data = buffer.getbuffer()  # a view, not a second copy of what may be a gigabyte (VGG16 with its optimizer)
    if sidecar:  # the hash first: a kill between the two renames leaves a mismatch, never a stale match
        hash_path = path.with_name(path.name + HASH_SUFFIX)
        hash_tmp = hash_path.with_name(f".{hash_path.name}.tmp{os.getpid()}")
        hash_tmp.write_text(hashlib.sha256(data).hexdigest() + "\n")
        os.replace(hash_tmp, hash_path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def verified_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``, checked against the sha256 in its sidecar before anything unpickles them
    (read once: what is checked is what gets loaded).

    Raises:
        IntegrityError: no sidecar, or the bytes changed since they were written.
    """
    import hashlib

    path = require_file(path, "checkpoint")
    hash_path = path.with_name(path.name + HASH_SUFFIX)
    if not hash_path.is_file():
        raise IntegrityError(f"{path}: no recorded hash ({hash_path.name} missing); refusing to load it")
    data = path.read_bytes()
    expected, actual = hash_path.read_text().strip(), hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise IntegrityError(f"{path}: sha256 {actual[:12]}… does not match the hash recorded when it was "
                             f"written ({expected[:12]}…); the file was changed or torn")
    return data


def load_checkpoint(path: str | Path, map_location: Any = "cpu", kind: str | None = None, *,
                    verify: bool = False) -> dict[str, Any]:
    """Load a checkpoint written by this project, safely (``weights_only=True``).

    Args:
        path: the ``.pt`` file.
        map_location: device for every tensor (``"cpu"`` loads a GPU-trained model on a CPU host).
        kind: when given, the checkpoint must be of this kind (e.g. ``"dcgan"``).
        verify: check the sha256 sidecar first (resume checkpoints, see :func:`verified_bytes`).

    Raises:
        DataError: missing, unreadable, not one of ours, or of another kind.
        IntegrityError: ``verify`` and the content hash does not match.
    """
    import pickle

    import torch

    path = require_file(path, "checkpoint")
    source = io.BytesIO(verified_bytes(path)) if verify else path
    try:
        # a file is mapped, not read: what the caller never touches (an optimizer's state, in a
        # checkpoint loaded for its weights) costs nothing; a verified checkpoint is bytes in memory
        ckpt = torch.load(source, map_location=map_location, weights_only=True, mmap=not verify)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(load_failure(path, exc, "PyTorch checkpoint",
                                     "Point to a checkpoint this project's training stages wrote.")) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT} checkpoint (got format {ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r})")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise DataError(f"{path}: checkpoint lacks field(s): {', '.join(missing)}")
    if kind is not None and ckpt["kind"] != kind:
        raise DataError(f"{path}: checkpoint holds a {ckpt['kind']!r} model, expected {kind!r}")
    return ckpt


def load_models(path: str | Path, kind: str, build: Any, names: tuple[str, ...], device: Any = "cpu") -> tuple[list, dict[str, Any]]:
    """The trained networks of a checkpoint, for evaluation: eval mode, frozen weights, on ``device``.

    Args:
        path: the checkpoint.
        kind: the checkpoint's kind (``"dcgan"``, ``"efficientgan"``…), checked.
        build: the builder, ``model_args`` dict → the networks in the order of ``names``.
        names: each network's name in the checkpoint's ``models``.
        device: where to put them.

    Returns:
        (the networks in the order of ``names``, the checkpoint dict).
    """
    ckpt = load_checkpoint(path, map_location=device, kind=kind)
    nets = _build_for_loading(build, ckpt, names)
    assert len(nets) == len(names), f"the {kind} builder made {len(nets)} networks, expected {names}"
    for net, name in zip(nets, names):
        net.to(device).eval().requires_grad_(False)
    return nets, ckpt


def _build_for_loading(build: Any, ckpt: dict[str, Any], names: tuple[str, ...]) -> list:
    """The networks with the checkpoint's weights, built without initialising weights first.

    Building on PyTorch's ``meta`` device allocates and initialises nothing (a VGG16's random init is
    seconds of CPU, thrown away by the load); ``load_state_dict(assign=True)`` then takes the
    checkpoint's tensors as they are. A network that computes a tensor at build time which the state
    dict does not hold (a non-persistent buffer) would keep it on ``meta``: such a network is built
    again the ordinary way, so the result is always the same as building and then loading.
    """
    import torch

    with torch.device("meta"):
        nets = list(build(ckpt["model_args"]))
    if len(nets) == len(names):
        for net, name in zip(nets, names):
            net.load_state_dict(ckpt["models"][name], assign=True)
        if not any(t.is_meta for net in nets for t in (*net.parameters(), *net.buffers())):
            return nets
    nets = list(build(ckpt["model_args"]))
    for net, name in zip(nets, names):
        net.load_state_dict(ckpt["models"][name])
    return nets
