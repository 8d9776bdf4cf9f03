"""Benchmark: a parameter sweep on DVC's experiment queue (`python -m pipelines sweep -j N`) against
the same experiments run one by one (`dvc exp run --set-param …` in the workspace, one after the
other), as a ratio of wall times.

Both start from copies of one repository in which the tabular pipeline was reproduced once, so each
experiment reruns `tabular-train` and `tabular-evaluate` only (the rest is restored from the cache).
The load average is printed with the figures: on a shared 2-core machine it bounds what -j 2 gains.

    python benchmarks/bench_sweep.py [--values 0.01,1,10] [--jobs 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import make_repo, timed, write_result

from tests.conftest import clone_repo  # noqa: E402

KEY = "tabular.train.C"
STAGES = ["tabular-download", "tabular-split", "tabular-encode", "tabular-impute", "tabular-analyze",
          "tabular-scale", "tabular-balance", "tabular-train", "tabular-evaluate"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", default="0.01,1,10")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    dvc = str(Path(sys.executable).with_name("dvc"))
    values = args.values.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tmp = Path(tmp)
        base = make_repo(tmp / "base")
        base.dvc("repro", "tabular-evaluate")
        base.commit("reproduced")
        one = clone_repo(base, tmp / "one-by-one")
        load0 = os.getloadavg()[0]
        start = time.perf_counter()
        for v in values:
            timed(one, dvc, "exp", "run", "--set-param", f"{KEY}={v}", *STAGES)
        serial = time.perf_counter() - start
        swept = clone_repo(base, tmp / "sweep")
        load1 = os.getloadavg()[0]
        sweep = timed(swept, sys.executable, "-m", "pipelines", "sweep", "tabular", "-S", f"{KEY}={args.values}",
                      "-j", str(args.jobs))
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"experiments": len(values), "jobs": args.jobs, "one_by_one_s": serial, "sweep_s": sweep,
              "ratio_sweep_over_one_by_one": sweep / serial, "load_average_1min": [load0, load1, os.getloadavg()[0]]}
    print(f"{len(values)} experiments: one by one (dvc exp run) {serial:.1f} s; sweep on the queue with -j {args.jobs} "
          f"{sweep:.1f} s; ratio {sweep / serial:.2f} (load average {load0:.1f} / {load1:.1f} / {os.getloadavg()[0]:.1f})")
    write_result("bench_sweep", result)


if __name__ == "__main__":
    main()
