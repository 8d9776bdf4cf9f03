"""`.venv/bin/dvc repro` without the venv activated: stage commands call ``python``, which is then an
interpreter without the project's packages. The stage must stop with one line that says so."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, ROOT, make_repo, run_env


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A venv of the same Python with no packages at all (what an unactivated shell's ``python`` may be)."""
    env_dir = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    return env_dir / "bin" / "python"


def test_stage_with_wrong_python_says_activate_the_venv(bare_python):
    proc = subprocess.run([str(bare_python), "-m", "stages.tabular.download"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    assert lines[0].startswith(f"error: python is {bare_python}, which lacks pydantic;")
    assert lines[0].endswith("activate the project's venv: source .venv/bin/activate")


def test_stage_with_venv_python_passes_the_check():
    proc = subprocess.run([sys.executable, "-c", "import stages.tabular"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.e2e
def test_dvc_repro_without_activated_venv(bare_python, tmp_path):
    repo = make_repo(tmp_path / "repo", ["tabular"])
    # `python` on PATH is the bare interpreter; dvc itself is the venv's, called by its full path
    env = run_env(PATH=f"{bare_python.parent}:/usr/bin:/bin")
    proc = repo.run(str(BIN / "dvc"), "repro", "tabular-download", check=False, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "activate the project's venv: source .venv/bin/activate" in out
    assert "Traceback" not in out and "ModuleNotFoundError" not in out, out
