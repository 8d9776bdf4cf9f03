"""Wall-clock latency of the compressed models: batch 1 (one request) and a whole split at once
(throughput), each the median of repeats in this process, with the models taking turns in every
round so that a busy spell on a shared machine hits them all alike.

Used by ``compress-evaluate`` (into the run record, never a tracked output) and
``benchmarks/bench_compress.py`` (ratios to the teacher).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def latencies(models: dict[str, Callable[[Any], Any]], x, repeats: int = 5, calls: int = 20) -> dict[str, dict[str, float]]:
    """``{model: {"batch1_us": …, "batch<N>_ms": …}}``: the median over ``repeats`` rounds of the
    mean time of ``calls`` calls on one image, and of single calls on all N images of ``x``."""
    import torch

    one = x[:1]
    times: dict[str, dict[str, list[float]]] = {n: {"one": [], "all": []} for n in models}
    with torch.no_grad():
        for fn in models.values():  # warm-up: first calls allocate and pick kernels
            fn(one)
            fn(x)
        for _ in range(repeats):
            for name, fn in models.items():
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn(one)
                t1 = time.perf_counter()
                fn(x)
                t2 = time.perf_counter()
                times[name]["one"].append((t1 - t0) / calls)
                times[name]["all"].append(t2 - t1)
    return {name: {"batch1_us": round(1e6 * statistics.median(t["one"]), 1),
                   f"batch{len(x)}_ms": round(1e3 * statistics.median(t["all"]), 2)} for name, t in times.items()}
