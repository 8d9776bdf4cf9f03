"""No-op overhead: `dvc repro` of the whole project vs a bare one-stage DVC repo, and
`python -m pipelines run tabular` with nothing to do vs a no-op `dvc repro`, all in one run.

Run: python benchmarks/bench_noop.py   (a few minutes: it reproduces the project once in a temp copy)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import report, run, timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import make_repo, run_env  # noqa: E402

DVC = str(Path(sys.executable).with_name("dvc"))


def bare_repo(path: Path) -> None:
    path.mkdir()
    run(["git", "init", "-q"], path)
    run([DVC, "init", "-q"], path)
    (path / "in.txt").write_text("x\n")
    (path / "dvc.yaml").write_text("stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n")
    run([DVC, "repro"], path)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = run_env(PREFECT_HOME=str(tmp / "prefect-home"))
        bare_repo(tmp / "bare")
        project = make_repo(tmp / "project").path
        print("reproducing the whole project once (the no-op runs come after) ...", flush=True)
        run([DVC, "repro"], project, env)
        bare = timed(lambda: run([DVC, "repro"], tmp / "bare", env))
        noop = timed(lambda: run([DVC, "repro"], project, env))
        noop_tabular = timed(lambda: run([DVC, "repro", "tabular-evaluate"], project, env))
        flow = timed(lambda: run([sys.executable, "-m", "pipelines", "run", "tabular"], project, env), repeat=3)
        stages = len(run([DVC, "stage", "list", "--name-only"], project, env).split())
    report("noop", {
        "stages in project": stages,
        "bare 1-stage dvc repro (s)": bare,
        "project no-op dvc repro (s)": noop,
        "ratio project / bare": noop / bare,
        "no-op dvc repro tabular-evaluate (s)": noop_tabular,
        "no-op pipelines run tabular (s)": flow,
        "ratio flow / dvc repro tabular": flow / noop_tabular,
    })


if __name__ == "__main__":
    main()
