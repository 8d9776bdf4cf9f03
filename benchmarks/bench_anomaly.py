"""Benchmark of the anomaly result's stability: ROC-AUC with a bootstrap 95% interval over seeds.

Runs the real stages (``dvc repro anomaly-evaluate``: gan-digits → gan-dcgan → anomaly-anogan,
anomaly-efficientgan → anomaly-evaluate) in a temporary copy of the project, once per seed
(``common.seed``), on the default params, and prints each method's ROC-AUC and interval per seed.
Goal (issue 8, item 7): ROC-AUC >= 0.80 for both methods on every seed, on a test set of >= 300
images. A result that depends on the seed's float noise shows up here as a spread across seeds.

``--mnist`` also runs the same params on the real MNIST test set (``../shared/data/mnist/``, or
``--mnist-dir``; the ``path`` source of ``gan.digits``): its 10,000 digits are split by the same
counts as the embedded data (gan.digits.train_per_class, test_per_class, anomalous_per_class).

Usage::

    nice -n 10 python benchmarks/bench_anomaly.py [--seeds 0 1 2] [--mnist] [--threads 1]

Writes ``benchmarks/results/anomaly.json`` (one entry per source).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import BIN, make_repo, write_result  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

log = logging.getLogger("bench_anomaly")

GOAL_AUC = 0.80
GOAL_TEST_IMAGES = 300
REPRO_TIMEOUT_S = 3600  # one seed's five stages; hours only on a badly oversubscribed machine
METHODS = ("anogan", "efficientgan")
MNIST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def source_params(source: str, mnist_dir: Path) -> dict:
    """params.yaml overrides that select ``source`` (``embedded`` = the defaults)."""
    if source == "embedded":
        return {}
    files = [(mnist_dir / f).resolve() for f in MNIST]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"MNIST test set not found: {', '.join(missing)}")
    return {"gan.digits.source": "path", "gan.digits.path": [str(f) for f in files]}


def run_seed(repo, seed: int) -> dict:
    """``dvc repro anomaly-evaluate`` with ``common.seed = seed``; the metrics and the run's wall time."""
    repo.set_param("common.seed", seed)
    start = time.perf_counter()
    proc = repo.run(str(BIN / "dvc"), "repro", "anomaly-evaluate", timeout=REPRO_TIMEOUT_S)
    seconds = time.perf_counter() - start
    ran = repo.ran_stages(proc)
    metrics = json.loads((repo.path / "artifacts/anomaly/evaluate/metrics.json").read_text())
    summary = json.loads((repo.path / "data/gan/digits/summary.json").read_text())
    row = {"seed": seed, "seconds": round(seconds, 1), "stages": ran, "n_test": metrics["n_test"],
           "n_anomalous": metrics["n_anomalous"], "test_counts": summary["test"], "train_counts": summary["train"]}
    for m in METHODS:
        row[m] = {k: metrics[m][k] for k in ("roc_auc", "roc_auc_low", "roc_auc_high")}
    row["meets_goal"] = bool(row["n_test"] >= GOAL_TEST_IMAGES and all(row[m]["roc_auc"] >= GOAL_AUC for m in METHODS))
    return row


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def fmt(r: dict) -> str:
    return f"{r['roc_auc']:.3f} [{r['roc_auc_low']:.3f}, {r['roc_auc_high']:.3f}]"


def run_source(source: str, seeds: list[int], workdir: Path, mnist_dir: Path, overrides: dict) -> dict:
    repo = make_repo(workdir / source)
    for dotted, value in {**source_params(source, mnist_dir), **overrides}.items():
        repo.set_param(dotted, value)
    rows = []
    for seed in seeds:
        row = run_seed(repo, seed)
        rows.append(row)
        log.info("%s seed %d: AnoGAN %s, Efficient GAN %s; %d test images (%d anomalous); %.0f s%s", source, seed,
                 fmt(row["anogan"]), fmt(row["efficientgan"]), row["n_test"], row["n_anomalous"], row["seconds"],
                 "" if row["meets_goal"] else "  BELOW GOAL")
    return {"source": source, "params": overrides, "seeds": rows, "meets_goal": all(r["meets_goal"] for r in rows),
            "min_roc_auc": {m: min(r[m]["roc_auc"] for r in rows) for m in METHODS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="values of common.seed (default 0 1 2)")
    ap.add_argument("--mnist", action="store_true", help="also run on the MNIST test set in ../shared/data/mnist/")
    ap.add_argument("--only-mnist", action="store_true", help="run on MNIST only")
    ap.add_argument("--mnist-dir", type=Path, default=SHARED_DATA / "mnist", help="folder of the MNIST t10k idx files")
    ap.add_argument("--threads", type=int, help="CPU threads per stage (OMP_NUM_THREADS); 1 keeps a busy, "
                    "shared machine from oversubscribing its cores (default: torch's own choice)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="params.yaml overrides for every run, e.g. gan.digits.train_per_class=400 (YAML values)")
    ap.add_argument("--label", help="name of the results entry (default: the source)")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the stages' environment (run_env copies os.environ)

    sources = ["mnist"] if args.only_mnist else ["embedded", *(["mnist"] if args.mnist else [])]
    entries = {}
    with tempfile.TemporaryDirectory(prefix="bench-anomaly-") as tmp:
        for source in sources:
            key = f"{args.label}-{source}" if args.label else source
            entries[key] = run_source(source, args.seeds, Path(tmp), args.mnist_dir, overrides)
            entries[key].update(host=platform.node(), cpu=cpu_model(), threads=args.threads,
                                   finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    out_file = ROOT / "benchmarks" / "results" / "anomaly.json"
    result = json.loads(out_file.read_text()) if out_file.is_file() else {}  # keep the other source's entry
    result.update(entries)
    path = write_result("anomaly", result)

    print(f"\n{'source':<9} {'seed':>4}  {'AnoGAN ROC-AUC [95% CI]':<26} {'Efficient GAN ROC-AUC [95% CI]':<31} {'test':>5} {'s':>6}")
    for source in entries:
        for r in result[source]["seeds"]:
            print(f"{source:<9} {r['seed']:>4}  {fmt(r['anogan']):<26} {fmt(r['efficientgan']):<31} {r['n_test']:>5} {r['seconds']:>6.0f}")
        print(f"{source}: goal (ROC-AUC >= {GOAL_AUC} for both methods, every seed, >= {GOAL_TEST_IMAGES} test images) "
              f"{'met' if result[source]['meets_goal'] else 'NOT met'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
