"""Shared fixtures. End-to-end tests run DVC in a temporary copy of the repository (its own
``git init``), never in the working tree."""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent


def run_env(**extra: str) -> dict[str, str]:
    """Environment for subprocesses: the venv first on PATH, no analytics, quiet Prefect."""
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the working tree."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


class Repo:
    """A throw-away copy of the project with its own git history and DVC cache."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, *cmd: str, check: bool = True, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(cmd), cwd=self.path, env=env or run_env(), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def python(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.run(sys.executable, *args, check=check, env=env)

    def ran_stages(self, proc: subprocess.CompletedProcess) -> list[str]:
        """Stages that `dvc repro` executed (not skipped, not restored), from its output."""
        return [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage '")]

    def set_param(self, dotted: str, value) -> None:
        import yaml

        params = yaml.safe_load((self.path / "params.yaml").read_text())
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


def make_repo(dest: Path) -> Repo:
    """Copy the project into ``dest``, ``git init`` and commit it, with outputs and cache empty."""
    for rel in project_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    repo = Repo(dest)
    repo.run("git", "init", "-q")
    repo.run("git", "config", "user.email", "test@example.invalid")
    repo.run("git", "config", "user.name", "test")
    repo.commit("copy of the project")
    return repo


@pytest.fixture
def temp_repo(tmp_path: Path) -> Repo:
    """A fresh copy of the project for one test."""
    return make_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real public data for tests; skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass
