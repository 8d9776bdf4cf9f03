"""No-op overhead: `dvc repro` of the whole project vs a bare one-stage DVC repo, and
`python -m pipelines run tabular` with nothing to do vs a no-op `dvc repro`, all in one run.

Run: python benchmarks/bench_noop.py   (a few minutes: it reproduces the project once in a temp copy)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import BIN, Repo, make_repo, median_time, timed, write_result

DVC = str(BIN / "dvc")


def bare_repo(path: Path) -> Repo:
    """A git + DVC repo with one copy stage, reproduced once."""
    path.mkdir()
    repo = Repo(path)
    repo.run("git", "init", "-q")
    repo.run(DVC, "init", "-q")
    (path / "in.txt").write_text("x\n")
    (path / "dvc.yaml").write_text("stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n")
    repo.run(DVC, "repro")
    return repo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="timed repetitions of each command (median)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bare = bare_repo(tmp / "bare")
        project = make_repo(tmp / "project")
        print("reproducing the whole project once (the no-op runs come after) ...", flush=True)
        timed(project, DVC, "repro")
        stages = len(project.run(DVC, "stage", "list", "--name-only").stdout.split())
        result = {
            "stages in project": stages,
            "bare 1-stage dvc repro (s)": median_time(bare, [DVC, "repro"], args.rounds),
            "project no-op dvc repro (s)": median_time(project, [DVC, "repro"], args.rounds),
            "no-op dvc repro tabular-evaluate (s)": median_time(project, [DVC, "repro", "tabular-evaluate"], args.rounds),
            "no-op pipelines run tabular (s)": median_time(project, [sys.executable, "-m", "pipelines", "run", "tabular"], max(1, args.rounds // 2)),
        }
    result["ratio project / bare"] = result["project no-op dvc repro (s)"] / result["bare 1-stage dvc repro (s)"]
    result["ratio flow / dvc repro tabular"] = result["no-op pipelines run tabular (s)"] / result["no-op dvc repro tabular-evaluate (s)"]
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value:.3f}" if isinstance(value, float) else f"{key.ljust(width)}  {value}")
    print(f"written to {write_result('noop', result)}")


if __name__ == "__main__":
    main()
