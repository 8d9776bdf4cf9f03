"""Shared helpers of the benchmarks: temporary project copies (as in the tests), timing, result files."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import BIN, Repo, make_repo, run_env  # noqa: E402  (the same temporary repos as the tests)

__all__ = ["BIN", "ROOT", "Repo", "make_repo", "repo_with", "run_env", "timed", "median_time", "write_result"]


def repo_with(tmp: Path, sets: list[str]) -> Repo:
    """A temporary copy of the project (:func:`make_repo`) with each ``KEY=VALUE`` of ``sets`` (a dotted
    params.yaml key, a YAML value) written into its params.yaml."""
    import yaml

    repo = make_repo(tmp)
    for item in sets:
        key, _, value = item.partition("=")
        repo.set_param(key, yaml.safe_load(value))
    return repo


def timed(repo: Repo, *cmd: str) -> float:
    """Wall-clock seconds of one command in ``repo`` (it must succeed)."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=repo.path, env=run_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def median_time(repo: Repo, cmd: list[str], repeat: int) -> float:
    """Median of ``repeat`` timings (after one warm-up run)."""
    timed(repo, *cmd)
    return statistics.median(timed(repo, *cmd) for _ in range(repeat))


def write_result(name: str, result: dict) -> Path:
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out
