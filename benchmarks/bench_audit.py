"""Benchmark: `python -m pipelines audit` of one model in a repo with 50 commits of history.

Goal: under 2 s. Reported as seconds and as a ratio to a no-op `dvc repro tabular-evaluate` in the same repo (the cost
of asking DVC "is anything out of date?"), so the figure reads the same on a faster or slower machine.

The history is real: ``--distinct`` values of ``tabular.train.C`` are trained with `dvc repro`; the
commits then cycle through those values (the params.yaml and dvc.lock `dvc repro` wrote for each), as a
history where models are retrained and earlier settings come back would.

    python benchmarks/bench_audit.py [--commits 50] [--distinct 10] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import make_repo, median_time, write_result

MODEL = "artifacts/tabular/train/model.pkl"
TARGET = "tabular-evaluate"  # the tabular pipeline (its last stage and everything upstream)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commits", type=int, default=50)
    ap.add_argument("--distinct", type=int, default=10, help="distinct trained models (dvc.lock versions)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        t0 = time.perf_counter()
        repo = make_repo(Path(tmp) / "repo")
        variants = []
        for i in range(args.distinct):  # train each value once, keep what dvc repro wrote
            repo.set_param("tabular.train.C", round(0.25 + 0.25 * i, 2))
            repo.dvc("repro", TARGET)
            variants.append(((repo.path / "params.yaml").read_text(), (repo.path / "dvc.lock").read_text()))
        for n in range(args.commits):
            params, lock = variants[n % len(variants)]
            (repo.path / "params.yaml").write_text(params)
            (repo.path / "dvc.lock").write_text(lock)
            (repo.path / "NOTES.txt").write_text(f"commit {n}\n")  # every commit differs
            repo.commit(f"history {n}: C variant {n % len(variants)}")
        repo.dvc("checkout", "--force", "--with-deps", TARGET)
        setup = time.perf_counter() - t0
        n_commits = int(repo.run("git", "rev-list", "--count", "HEAD").stdout)

        py = sys.executable
        noop = median_time(repo, [str(Path(py).with_name("dvc")), "repro", TARGET], args.repeat)
        cases = {
            "audit (workspace)": [py, "-m", "pipelines", "audit", MODEL],
            "audit --json": [py, "-m", "pipelines", "audit", MODEL, "--json"],
            "audit --rev HEAD~25": [py, "-m", "pipelines", "audit", MODEL, "--rev", "HEAD~25"],
        }
        times = {name: median_time(repo, cmd, args.repeat) for name, cmd in cases.items()}

    print(f"repo: {n_commits} commits, {args.distinct} distinct dvc.lock versions (set-up {setup:.0f} s)")
    print(f"{'command':<24} {'seconds':>8} {'vs no-op dvc repro':>19}")
    print(f"{'no-op dvc repro':<24} {noop:8.3f} {1.0:18.2f}x")
    for name, t in times.items():
        print(f"{name:<24} {t:8.3f} {t / noop:18.2f}x")
    worst = max(times.values())
    print(f"goal < 2 s: {'met' if worst < 2 else 'NOT met'} (slowest {worst:.3f} s)")
    out = write_result("audit", {
        "commits": n_commits, "distinct_locks": args.distinct, "repeat": args.repeat,
        "noop_dvc_repro_s": noop, "audit_s": times,
        "ratio_vs_noop_repro": {k: v / noop for k, v in times.items()}, "goal_s": 2.0, "goal_met": worst < 2,
    })
    print(f"written {out}")


if __name__ == "__main__":
    main()
