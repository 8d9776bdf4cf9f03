"""Artifact I/O: atomic writes, checksummed pickles, JSON, Parquet, figures.

Every stage writes its declared outputs inside one :func:`atomic_outputs` block. Files are written
to temporary names in the target's own folder and renamed into place only when the whole block
succeeds; on any error the temporaries are deleted. A failed stage therefore leaves no half-written
artifact for DVC to cache. A stage killed outright (SIGKILL) cannot clean up: its temporaries are
removed the next time any run writes the same target (:func:`remove_stale_temporaries`).

Pickles are written with a sidecar ``<name>.sha256`` and loaded by :func:`load_pickle` only after
the content hash matches it: a swapped or tampered pickle is refused before it is unpickled.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError, IntegrityError

log = logging.getLogger(__name__)

HASH_SUFFIX = ".sha256"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_json(obj: Any) -> str:
    """Stable JSON text (sorted keys, 2-space indent, numpy scalars as numbers)."""
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True) + "\n"


class Outputs:
    """Collects temporary files for one stage run; see :func:`atomic_outputs`."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []  # (temporary, final)

    def path(self, target: str | Path) -> Path:
        """A temporary path to write ``target``'s content to; renamed into place on success."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        tmp = temporary_name(target)
        _remove(tmp)
        self._pending.append((tmp, target))
        return tmp

    def dir(self, target: str | Path) -> Path:
        """A temporary folder that becomes ``target`` on success."""
        tmp = self.path(target)
        tmp.mkdir()
        return tmp

    def json(self, target: str | Path, obj: Any) -> None:
        self.path(target).write_text(dumps_json(obj))

    def text(self, target: str | Path, text: str) -> None:
        self.path(target).write_text(text)

    def parquet(self, target: str | Path, frame) -> None:
        frame.to_parquet(self.path(target), index=False)

    def npz(self, target: str | Path, **arrays: np.ndarray) -> None:
        with open(self.path(target), "wb") as f:
            np.savez_compressed(f, **arrays)

    def figure(self, target: str | Path, fig, dpi: int = 100) -> None:
        """Save a matplotlib figure as PNG (:func:`stages.core.figures.save`) and close it."""
        from .figures import save

        save(fig, self.path(target), dpi=dpi)

    def pickle(self, target: str | Path, obj: Any) -> Any:
        """Pickle ``obj`` with a sidecar sha256 (checked by :func:`load_pickle`).

        Returns:
            the object read back from the bytes just written, so a stage can apply exactly what
            it saved (the pickled imputer transforms the test split, not the in-memory one).
        """
        target = Path(target)
        tmp = self.path(target)
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.write_bytes(data)
        self.text(target.with_name(target.name + HASH_SUFFIX), hashlib.sha256(data).hexdigest() + "\n")
        return pickle.loads(data)  # noqa: S301 - bytes this process produced a moment ago

    def _commit(self) -> None:
        for tmp, final in self._pending:
            _remove(final)
            os.replace(tmp, final)
        self._pending.clear()

    def _rollback(self) -> None:
        for tmp, _ in self._pending:
            _remove(tmp)
        self._pending.clear()


def temporary_name(target: Path, pid: int | None = None) -> Path:
    """``<folder>/.<name>.tmp<pid><suffix>``: where process ``pid`` writes ``target`` before the rename."""
    return target.parent / f".{target.name}.tmp{os.getpid() if pid is None else pid}{target.suffix}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (of any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Delete temporaries of ``target`` left by a process that no longer runs (killed mid-write).

    A stage killed with SIGKILL (or a lost machine) cannot run its rollback, so its
    ``.<name>.tmp<pid><suffix>`` file or folder would stay beside the target forever, invisible to
    ``git status`` and ``dvc status``. Only temporaries whose writer is gone are removed: a second
    process writing the same target at the same moment (outside DVC's repository lock) keeps its own.
    A reused PID only delays the clean-up to a later run.

    Returns:
        the paths removed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = re.compile(re.escape(f".{target.name}.tmp") + r"(\d+)" + re.escape(target.suffix) + "$")
    removed = []
    for entry in target.parent.iterdir():
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            log.info("%s: removing a temporary left by process %s, which no longer runs", entry, m.group(1))
            _remove(entry)
            removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_outputs() -> Iterator[Outputs]:
    """Write a stage's outputs all-or-nothing.

    Example::

        with atomic_outputs() as out:
            out.parquet("data/tabular/raw.parquet", frame)
            out.json("data/tabular/profile.json", profile)
    """
    out = Outputs()
    try:
        yield out
    except BaseException:
        out._rollback()
        raise
    out._commit()


def require_file(path: str | Path, what: str = "input") -> Path:
    """Fail with a clear message when a declared input is missing or empty."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: {what} not found (run the upstream stage first: dvc repro)")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: {what} is empty")
    return path


def read_json(path: str | Path) -> Any:
    path = require_file(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def read_parquet(path: str | Path):
    import pandas as pd

    return pd.read_parquet(require_file(path))


def load_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` only if its sha256 matches the sidecar written with it.

    Raises:
        IntegrityError: the sidecar is missing or the content hash differs (a swapped or
            tampered file); nothing is unpickled in that case.
    """
    path = require_file(path, "pickle")
    sidecar = path.with_name(path.name + HASH_SUFFIX)
    if not sidecar.exists():
        raise IntegrityError(f"{path}: refusing to unpickle: no recorded hash ({sidecar.name} missing)")
    expected = sidecar.read_text().strip()
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path}: refusing to unpickle: sha256 {actual[:12]}… does not match the hash recorded "
            f"when it was written ({expected[:12]}…); the file was changed or swapped. "
            "Rebuild it with `dvc repro` or restore it with `dvc checkout`."
        )
    with open(path, "rb") as f:
        return pickle.load(f)  # noqa: S301 - content verified above
