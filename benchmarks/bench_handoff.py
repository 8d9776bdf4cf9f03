"""Benchmark: the cost of the GPU-host handoff on clone B (pull outputs and run-cache from the shared
remote, then a `dvc repro` that runs nothing) against a no-op `dvc repro` on clone A, as a ratio.

Clone A reproduces the tabular pipeline and pushes to a folder remote (`python -m pipelines remote
push`). Each round makes a fresh `git clone` B and times, on B, `python -m pipelines remote pull` +
`dvc repro`, and separately `dvc repro --pull` alone on another fresh clone.

    python benchmarks/bench_handoff.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import Repo, make_repo, median_time, timed, write_result

TARGET = "tabular-evaluate"  # the tabular pipeline (its last stage and everything upstream)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    dvc = str(Path(py).with_name("dvc"))

    with tempfile.TemporaryDirectory(prefix="bench-handoff-") as tmp:
        tmp = Path(tmp)
        a = make_repo(tmp / "a")
        a.python("-m", "pipelines", "remote", "setup", "shared", str(tmp / "remote"))
        t0 = time.perf_counter()
        a.dvc("repro", TARGET)
        full = time.perf_counter() - t0
        a.commit("reproduced")
        push = timed(a, py, "-m", "pipelines", "remote", "push", "tabular")
        noop = median_time(a, [dvc, "repro", TARGET], args.rounds)

        pull_repro, repro_pull = [], []
        for i in range(args.rounds):
            for kind, sink in (("b", pull_repro), ("c", repro_pull)):
                dest = tmp / f"{kind}{i}"
                a.run("git", "clone", "-q", str(a.path), str(dest))
                clone = Repo(dest)
                if kind == "b":
                    t = timed(clone, py, "-m", "pipelines", "remote", "pull", "tabular")
                    proc_t0 = time.perf_counter()
                    proc = clone.dvc("repro", TARGET)
                    t += time.perf_counter() - proc_t0
                else:
                    proc_t0 = time.perf_counter()
                    proc = clone.dvc("repro", "--pull", TARGET)
                    t = time.perf_counter() - proc_t0
                ran = clone.ran_stages(proc)
                if ran:
                    raise SystemExit(f"clone {dest.name} ran stages {ran}: the handoff is broken")
                sink.append(t)

    rows = {
        "full dvc repro on A (reference)": full,
        "push on A": push,
        "no-op dvc repro on A": noop,
        "B: remote pull + dvc repro": statistics.median(pull_repro),
        "B: dvc repro --pull": statistics.median(repro_pull),
    }
    print(f"{'step':<34} {'seconds':>8} {'vs no-op repro':>15}")
    for name, t in rows.items():
        print(f"{name:<34} {t:8.2f} {t / noop:14.2f}x")
    print("stages executed on B: 0 (every stage restored from the remote)")
    out = write_result("handoff", {
        "rounds": args.rounds, "seconds": rows,
        "ratio_pull_and_repro_vs_noop": rows["B: remote pull + dvc repro"] / noop,
        "ratio_repro_pull_vs_noop": rows["B: dvc repro --pull"] / noop,
        "ratio_pull_and_repro_vs_full_repro": rows["B: remote pull + dvc repro"] / full,
    })
    print(f"written {out}")


if __name__ == "__main__":
    main()
