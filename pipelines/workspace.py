"""Throw-away copies of the project: its files (no outputs, no cache, no .venv) in a git repo of their own.

DVC holds one lock per workspace, and a check that applies a profile must not touch the user's
params.yaml, so checks (and the test suite) work in such a copy.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path


def project_files(root: str | Path = ".") -> list[str]:
    """Tracked and untracked-but-not-ignored files of the working tree at ``root``."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.split("\0") if f and (Path(root) / f).is_file()]


def copy_project(root: str | Path, dest: str | Path, *, message: str = "copy of the project",
                 stages: Collection[str] | None = None) -> Path:
    """Copy the project at ``root`` into ``dest``, ``git init`` there and commit everything.

    Args:
        stages: keep only these stages in the copy's ``dvc.yaml`` (:func:`keep_stages`; the caller
            passes a set closed upstream, such as :func:`pipelines.dag.select` gives); None keeps all.

    Returns:
        ``dest``, a repository with the project's files, no DVC outputs and an empty DVC cache.
    """
    root, dest = Path(root), Path(dest)
    for rel in project_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    if stages is not None:
        keep_stages(dest / "dvc.yaml", stages)
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


_STAGE_KEY = re.compile(r"^  ([A-Za-z0-9_][\w.-]*):\s*(#.*)?$")


def keep_stages(dvc_yaml: str | Path, stages: Collection[str]) -> None:
    """Rewrite ``dvc_yaml`` keeping only the entries of ``stages``, each as written (comments above
    an entry go with it; the file's own header stays).

    DVC builds its index of every stage of the file for every command (a no-op ``dvc repro`` of one
    pipeline, cold: 1.6 s of CPU with the project's 71 stages, 1.1 s with that pipeline's 10; ``dvc exp
    save`` builds it three times), so a copy that runs one pipeline holds only that pipeline's
    stages and what they need upstream.

    Raises:
        KeyError: a name in ``stages`` is not a stage of the file.
    """
    path = Path(dvc_yaml)
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln.rstrip() == "stages:") + 1
    blocks: list[tuple[str, list[str]]] = []  # (stage name, its lines) in file order
    pending: list[str] = []  # comments and blank lines: they go with what follows them
    for line in lines[start:]:
        match = _STAGE_KEY.match(line)
        if match:
            blocks.append((match.group(1), pending + [line]))
        elif line.startswith("   ") and blocks:  # the entry's body, with the comments and blank lines in it
            blocks[-1][1].extend(pending + [line])
        elif not line.strip() or line.lstrip().startswith("#"):
            pending.append(line)
            continue
        else:
            raise ValueError(f"{path}: cannot split the stages at line {line.rstrip()!r}")
        pending = []
    missing = set(stages) - {name for name, _ in blocks}
    if missing:
        raise KeyError(f"{path}: no stage(s) {', '.join(sorted(missing))}")
    kept = [line for name, body in blocks if name in stages for line in body]
    path.write_text("".join(lines[:start] + kept + pending))  # and the file's last comments
