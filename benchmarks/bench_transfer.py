"""Benchmark of the transfer pipeline: is the pretrained backbone worth caching, and how long does it take?

Runs the real stages (``dvc repro transfer-evaluate transfer-explain``: transfer-data →
transfer-pretrain → transfer-scratch, transfer-train, transfer-finetune → transfer-evaluate,
transfer-explain) in a temporary copy of the project, once per seed (``common.seed``: the labelled
subset, the source digits and every initialisation change with it), on the default params, and
prints the validation accuracy of scratch, transfer learning (frozen convolutions) and fine-tuning
per seed, their mean and spread, and the gains over scratch. The wall time of the first seed's repro
is the pipeline's time on the default settings, set against a no-op ``dvc repro`` of the same stages.

``--hymenoptera`` then switches the same repo to the real ants/bees subset (``../shared/data/
hymenoptera``, the ``path`` source, every image): the backbone stays cached (it was pretrained on
digits) and the three target stages rerun; their accuracies are printed as they are.

Usage::

    nice -n 10 python benchmarks/bench_transfer.py [--seeds 0 1 2] [--hymenoptera] [--set key=value ...]

Writes ``benchmarks/results/transfer.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import statistics
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

log = logging.getLogger("bench_transfer")

VARIANTS = ("scratch", "transfer", "finetune")
TARGETS = ("transfer-evaluate", "transfer-explain")
REPRO_TIMEOUT_S = 3600


def child_cpu_seconds() -> float:
    """CPU seconds (user + system) of every finished child process so far (dvc and the stages it ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def repro(repo, *targets: str) -> tuple[float, list[str]]:
    start, cpu = time.perf_counter(), child_cpu_seconds()
    proc = repo.run(str(BIN / "dvc"), "repro", *targets, timeout=REPRO_TIMEOUT_S)
    repro.cpu_seconds = child_cpu_seconds() - cpu  # on a shared machine wall time waits for other jobs, CPU time does not
    return time.perf_counter() - start, repo.ran_stages(proc)


def accuracies(repo) -> dict:
    m = json.loads((repo.path / "artifacts/transfer/evaluate/metrics.json").read_text())
    return {**{v: m["comparison"][v]["val_accuracy"] for v in VARIANTS}, "n_val": m["n_val"], "classes": m["classes"]}


def summary(rows: list[dict]) -> dict:
    """Mean, sample standard deviation, min and max of each variant's accuracy and of the gains."""
    out = {}
    for key in (*VARIANTS, "transfer_gain", "finetune_gain"):
        values = [r[key] for r in rows]
        out[key] = {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "min": min(values), "max": max(values)}
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hymenoptera", action="store_true", help="also run the real ants/bees subset (path source)")
    ap.add_argument("--figures", type=Path, help="copy the first seed's figures (curves, confusion, Grad-CAM) here")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="params.yaml overrides (YAML values)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    result: dict = {"params": overrides, "host": platform.node(), "cpu": cpu_model(), "seeds": []}
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        repo = make_repo(Path(tmp) / "repo")
        for dotted, value in overrides.items():
            repo.set_param(dotted, value)
        for i, seed in enumerate(args.seeds):
            repo.set_param("common.seed", seed)
            seconds, ran = repro(repo, *TARGETS)
            cpu = repro.cpu_seconds
            row = {"seed": seed, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "stages": len(ran), **accuracies(repo)}
            row["transfer_gain"], row["finetune_gain"] = row["transfer"] - row["scratch"], row["finetune"] - row["scratch"]
            row["source_val_acc"] = json.loads((repo.path / "artifacts/transfer/pretrain/metrics.json").read_text())["val_accuracy"]
            result["seeds"].append(row)
            log.info("seed %d: scratch %.3f, transfer %.3f, finetune %.3f (backbone on the source digits: %.3f); %d stages, %.0f s",
                     seed, row["scratch"], row["transfer"], row["finetune"], row["source_val_acc"], len(ran), seconds)
            if i == 0 and args.figures:
                args.figures.mkdir(parents=True, exist_ok=True)
                for png in ("evaluate/curves.png", "evaluate/confusion.png", "explain/gradcam.png"):
                    shutil.copyfile(repo.path / "artifacts/transfer" / png, args.figures / f"transfer-{Path(png).name}")
            if i == 0:
                noop, ran = repro(repo, *TARGETS)
                assert ran == [], ran
                result["wall_time"] = {"pipeline_s": round(seconds, 1), "pipeline_cpu_s": round(cpu, 1),
                                       "noop_repro_s": round(noop, 2), "ratio_to_noop": round(seconds / noop, 1),
                                       "load_average_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
        result["summary"] = summary(result["seeds"])
        if args.hymenoptera:
            folder = SHARED_DATA / "hymenoptera"
            if not folder.is_dir():
                raise SystemExit(f"{folder} not found")
            for dotted, value in {"transfer.data.source": "path", "transfer.data.path": [str(folder.resolve())],
                                  "transfer.data.train_per_class": None, "transfer.data.val_per_class": None}.items():
                repo.set_param(dotted, value)
            seconds, ran = repro(repo, "transfer-evaluate")
            result["hymenoptera"] = {"seed": args.seeds[-1], "seconds": round(seconds, 1), "stages": ran, **accuracies(repo)}
            log.info("hymenoptera (seed %d): %s", args.seeds[-1], result["hymenoptera"])
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = write_result("transfer", result)
    s = result["summary"]
    print(f"\n{'seed':>4} {'scratch':>8} {'transfer':>9} {'finetune':>9} {'seconds':>8}")
    for r in result["seeds"]:
        print(f"{r['seed']:>4} {r['scratch']:>8.3f} {r['transfer']:>9.3f} {r['finetune']:>9.3f} {r['seconds']:>8.0f}")
    print("mean ± std " + ", ".join(f"{k} {s[k]['mean']:.3f} ± {s[k]['std']:.3f}" for k in s))
    w = result["wall_time"]
    print(f"default pipeline: {w['pipeline_s']:.0f} s wall ({w['pipeline_cpu_s']:.0f} CPU-s; load average {w['load_average_1min']} "
          f"on {w['cpus']} CPUs), {w['ratio_to_noop']}x a no-op dvc repro ({w['noop_repro_s']:.1f} s)")
    if "hymenoptera" in result:
        h = result["hymenoptera"]
        print(f"hymenoptera ({h['n_val']} val images): " + ", ".join(f"{v} {h[v]:.3f}" for v in VARIANTS))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
