"""Benchmark of the compress pipeline: the latency of every compressed model as a ratio to the
teacher's, measured in one process on the models ``dvc repro compress-evaluate`` trained.

For each model (the first seed of each variant): batch 1 (one request, the mean of ``--calls``
calls) and the whole test split at once, each the median of ``--repeats`` rounds in which the models
take turns. Writes ``benchmarks/results/bench_compress.json`` with the times and their ratios to
the teacher (> 1: faster than the teacher).

Usage (after ``dvc repro compress-evaluate``): ``python benchmarks/bench_compress.py [--repeats 7]
[--calls 50] [--threads N]``. The pipeline's own evaluation puts the same figures (fewer repeats) in
its run record: ``python -m pipelines runs``.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from stages.compress.images import load_split, read_summary  # noqa: E402
from stages.compress.latency import latencies  # noqa: E402
from stages.compress.nets import load_nets  # noqa: E402
from stages.compress.quantization import load_int8, run_quantized  # noqa: E402

ART = ROOT / "artifacts/compress"


def first_of_each(models: dict) -> dict:
    """The first run of each variant (``student_seed42`` for ``student``)."""
    out: dict = {}
    for name, m in models.items():
        out.setdefault(name.rsplit("_seed", 1)[0], m)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="rounds; each figure is the median over them")
    ap.add_argument("--calls", type=int, default=50, help="batch-1 calls per round (their mean is one sample)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    missing = [p for p in ("teacher/model.pt", "students/model.pt", "prune/model.pt", "quantize/int8.pt")
               if not (ART / p).is_file()]
    if missing:
        raise SystemExit(f"missing {', '.join(str(ART / p) for p in missing)}: run `dvc repro compress-evaluate` first")
    summary = read_summary(ROOT / "data/compress/summary.json")
    x, _ = load_split(ROOT / "data/compress/test.npz", summary)
    floats = first_of_each({**load_nets(ART / "teacher/model.pt"), **load_nets(ART / "students/model.pt"),
                            **load_nets(ART / "prune/model.pt")})
    floats["teacher"] = floats.pop("net")
    int8, backend = load_int8(ART / "quantize/int8.pt")
    models = {**floats, **{n: (lambda z, m=m: run_quantized(m, z)) for n, m in first_of_each(int8).items()}}
    times = latencies(models, x, repeats=args.repeats, calls=args.calls)
    big = f"batch{len(x)}_ms"
    ref = times["teacher"]
    result = {"host": platform.node(), "threads": torch.get_num_threads(), "backend": backend, "n": len(x),
              "repeats": args.repeats, "calls": args.calls, "models": {
                  name: {**t, "batch1_speedup": round(ref["batch1_us"] / t["batch1_us"], 3),
                         f"batch{len(x)}_speedup": round(ref[big] / t[big], 3)} for name, t in times.items()}}
    path = write_result("bench_compress", result)
    print(f"{'model':<14}{'batch 1 (µs)':>14}{'x teacher':>11}{f'batch {len(x)} (ms)':>16}{'x teacher':>11}")
    for name, r in result["models"].items():
        print(f"{name:<14}{r['batch1_us']:>14.1f}{r['batch1_speedup']:>11.2f}{r[big]:>16.2f}{r[big.replace('_ms', '_speedup')]:>11.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
