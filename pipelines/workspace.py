"""Throw-away copies of the project: its files (no outputs, no cache, no .venv) in a git repo of their own.

DVC holds one lock per workspace, and a check that applies a profile must not touch the user's
params.yaml, so checks (and the test suite) work in such a copy.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def project_files(root: str | Path = ".") -> list[str]:
    """Tracked and untracked-but-not-ignored files of the working tree at ``root``."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f and (Path(root) / f).is_file()]


def copy_project(root: str | Path, dest: str | Path, *, message: str = "copy of the project") -> Path:
    """Copy the project at ``root`` into ``dest``, ``git init`` there and commit everything.

    Returns:
        ``dest``, a repository with the project's files, no DVC outputs and an empty DVC cache.
    """
    root, dest = Path(root), Path(dest)
    for rel in project_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    git = ["git", "-c", "user.email=check@example.invalid", "-c", "user.name=check"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", message, "--allow-empty"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True, capture_output=True)
    return dest


EMPTY_LOCK = "schema: '2.0'\nstages: {}\n"


def empty_lock(dest: str | Path) -> None:
    """Write an empty ``dvc.lock`` into the copy at ``dest`` (to be committed by the caller).

    A copy has none of the outputs the project's lock records, so its entries describe nothing there;
    and DVC rewrites the whole lock after every stage it runs: about 1 s of CPU for the project's
    4,900 lines (a round-trip YAML parse and dump), 0.1 s for a lock holding only the stages run.
    """
    (Path(dest) / "dvc.lock").write_text(EMPTY_LOCK)
