"""Pretrained weights: fetched by URL or read from a file, verified, then matched to the architecture.

A pretrained network's weights are an input like any dataset, so they get the same care:

- ``source: url`` downloads them once into the download cache (:func:`stages.core.sources.fetch_url`)
  and refuses them unless their sha256 matches. torchvision publishes only the first 8 hex digits of
  each file's sha256 (the ``397923af`` in ``vgg16-397923af.pth``) and checks that prefix itself, so a
  prefix of at least 8 digits is accepted here too; a full digest is better when you have one.
- ``source: path`` reads a local file, checked against ``sha256`` when one is given.
- The bytes are hashed *before* ``torch.load`` reads them, and read with ``weights_only=True``:
  nothing in a weights file can run code.
- every floating-point tensor must be finite (:func:`require_finite`): NaN or infinite weights would
  train to NaN without an error, so they are refused naming the file and the tensor's key.
- :func:`match_state_dict` compares the file's keys and shapes with the model's before anything is
  loaded, so a file for another architecture is one clear error that names the file and the keys,
  not a shape traceback from deep inside ``load_state_dict``.

The stage that uses them copies the verified file into its DVC-tracked output, so the weights a
model was trained from are cached, pushed and audited like every other artifact.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .checkpoint import load_failure
from .errors import DataError, IntegrityError
from .io import require_file
from .params import Params

log = logging.getLogger(__name__)


class WeightsParams(Params):
    """Where a model's pretrained weights come from.

    ``none`` trains from scratch (or from a backbone another stage trained); ``url`` downloads
    ``url`` and checks ``sha256`` (a full digest, or torchvision's published prefix of ≥ 8 hex
    digits); ``path`` reads a local file (checked against ``sha256`` when given).
    """

    source: Literal["none", "url", "path"] = "none"
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    deadline_seconds: float = Field(1800.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _check(self) -> "WeightsParams":
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", self.sha256):
            raise ValueError(f"sha256 must be 8 to 64 hex digits (got {self.sha256!r})")
        if self.source == "url" and not (self.url and self.sha256):
            raise ValueError("source is 'url': set url and its sha256 (torchvision's 8-digit prefix will do)")
        if self.source == "path" and not self.path:
            raise ValueError("source is 'path' but no path is set")
        return self


def check_digest(data: bytes, expected: str, name: str) -> None:
    """Raise unless ``sha256(data)`` starts with ``expected`` (a full digest or a prefix).

    Raises:
        IntegrityError: the digest differs; the message names the file and both digests.
    """
    actual = hashlib.sha256(data).hexdigest()
    if not actual.startswith(expected.lower()):
        raise IntegrityError(
            f"{name}: sha256 is {actual}, expected {expected.lower()}{'…' if len(expected) < 64 else ''}; "
            "the weights were not loaded (a different or corrupted file)"
        )


def fetch_weights(weights_params: WeightsParams, *, progress: bool = True) -> Path:
    """The local, verified weights file for ``weights_params`` (downloaded into the cache for ``url``).

    Raises:
        DownloadError: the download failed or its checksum differs (nothing is kept).
        IntegrityError: a local file whose checksum differs.
        DataError: ``source`` is ``none``, or the path does not exist.
    """
    if weights_params.source == "none":
        raise DataError("weights: source is 'none', there is no weights file to fetch")
    if weights_params.source == "path":
        path = require_file(weights_params.path, "weights file")
        if weights_params.sha256:
            check_digest(path.read_bytes(), weights_params.sha256, str(path))
        return path
    from .sources import fetch_url

    return fetch_url(weights_params.url, f"sha256:{weights_params.sha256}", deadline=weights_params.deadline_seconds,
                     progress=progress)


def load_state_dict(path: str | Path, sha256: str | None = None) -> dict[str, Any]:
    """Read a state dict with ``weights_only=True`` (checked against ``sha256`` first when given).

    Accepts a bare state dict or a dict that holds one under ``state_dict`` / ``model``.

    Raises:
        IntegrityError: checksum mismatch. DataError: not a PyTorch file, or no state dict in it.
    """
    import torch

    path = require_file(path, "weights file")
    data = path.read_bytes()
    if sha256:
        check_digest(data, sha256, str(path))
    try:
        obj = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(load_failure(path, exc, "PyTorch weights file",
                                     "Use a state dict saved with torch.save(model.state_dict(), path), "
                                     "from a source you trust.")) from None
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        obj = obj.get("state_dict", obj.get("model", obj))
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(f"{path}: holds no state dict (a mapping of parameter names to tensors)")
    require_finite(obj, str(path))
    return obj


def require_finite(state: dict[str, Any], source: str) -> None:
    """Refuse a state dict with a NaN or an infinity in any floating-point tensor.

    Such weights train to NaN without an error (every loss and gradient they touch is NaN); a file
    of them is corrupt or came from a diverged run, so it is refused where it is read.

    Raises:
        DataError: names the file, the first tensor's key and how many values are not finite, and
            how many other tensors hold some.
    """
    import torch

    bad = []
    for key, t in state.items():
        # A sum is finite when every value is (a NaN or an inf makes it NaN or inf) and costs one pass
        # with no temporary; only a non-finite sum (or one that overflowed) is counted value by value.
        # Counting every tensor took 6 of a VGG16 stage's 24 s of CPU.
        if (torch.is_floating_point(t) or torch.is_complex(t)) and not bool(torch.isfinite(t.sum())):
            n = int((~torch.isfinite(t)).sum())
            if n:
                bad.append((key, n, t.numel()))
    if bad:
        key, n, total = bad[0]
        more = f"; {len(bad) - 1} other tensor(s) too" if len(bad) > 1 else ""
        raise DataError(f"{source}: tensor {key!r} holds {n:,} non-finite value(s) (NaN or inf) of {total:,}{more}; "
                        "weights like these train to NaN. Use an intact copy of the weights file.")


def match_state_dict(model, state: dict[str, Any], source: str, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The entries of ``state`` that ``model`` takes, after checking every key and shape.

    Args:
        model: the ``nn.Module`` the weights are for.
        state: the file's state dict.
        source: the file's name, for messages.
        skip: key prefixes to leave out on both sides (a head replaced for another number of
            classes, e.g. ``("classifier.6.",)``); those keep the model's own initialisation.

    Raises:
        DataError: keys missing or unexpected, or a shape that differs, with up to five of each named.
    """
    skip = tuple(skip)
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}
    theirs = {k: v for k, v in state.items() if not k.startswith(skip)}
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    shapes = [f"{k} {tuple(theirs[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(theirs)) if tuple(theirs[k].shape) != tuple(own[k].shape)]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape differs (file vs model)", shapes)):
        if items:
            problems.append(f"{len(items)} {label}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}")
    if problems:
        raise DataError(f"{source}: weights do not fit the {type(model).__name__} architecture; " + "; ".join(problems))
    return theirs


def load_pretrained(model, path: str | Path, *, sha256: str | None = None, skip: Iterable[str] = ()):
    """Load verified weights from ``path`` into ``model`` (keys under ``skip`` keep their init).

    Returns:
        ``model``, with the file's weights.
    """
    state = match_state_dict(model, load_state_dict(path, sha256), str(path), skip=skip)
    model.load_state_dict(state, strict=False)
    log.info("%s: %d tensors loaded into %s", path, len(state), type(model).__name__)
    return model
