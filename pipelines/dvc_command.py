"""Running the ``dvc`` command line from the operations harness: which executable, and one runner.

Every module of ``pipelines/`` that starts DVC as a subprocess goes through here, so the executable is
found one way and a failure reads the same everywhere. Nothing heavy is imported (no Prefect, no DVC
Python API): the audit, remote and sweep commands start fast.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

TAIL_LINES = 15  # lines of DVC's output a DvcError carries


class DvcError(RuntimeError):
    """A ``dvc`` command exited non-zero; the message names the command and carries DVC's last lines."""


def dvc_executable() -> str:
    """The ``dvc`` beside this interpreter (the project venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")


def dvc(args: Sequence[str], root: str | Path, *, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``dvc <args>`` in ``root``, stdout and stderr captured (text).

    Args:
        args: the arguments after ``dvc`` (``["status", "--json"]``).
        root: the repository to run in.
        check: raise on a non-zero exit; with ``check=False`` the caller reads ``returncode`` itself.

    Returns:
        The finished process (``stdout``, ``stderr``, ``returncode``).

    Raises:
        DvcError: ``check`` and DVC exited non-zero; the message ends with the last ``TAIL_LINES``
        lines of its stdout then stderr (DVC's own ``ERROR:`` lines come last).
    """
    proc = subprocess.run([dvc_executable(), *args], cwd=root, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise DvcError(f"dvc {' '.join(args)} exited {proc.returncode}:\n{output_tail(proc)}")
    return proc


def output_tail(proc: subprocess.CompletedProcess, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a finished process's stdout followed by its stderr."""
    text = "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part and part.strip())
    return "\n".join(text.splitlines()[-lines:])
