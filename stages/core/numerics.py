"""Same float bytes on every x86-64 host, for data stages whose outputs come from numpy float math.

numpy picks SIMD kernels when it is imported (AVX2, AVX-512, by CPU), and their float results
differ in the last bits: audio-effects' phase vocoder and VTLN outputs, and audio-features'
dB spectrograms, differed between numpy's AVX-512 and AVX2 kernels on the same input
(benchmarks/bench_effects_baseline.py). Rounding the stored values does not help: some values
still round the other way. :func:`use_baseline_kernels` limits numpy to its baseline kernels, the
same code on every x86-64 CPU. It works only before numpy is imported, so a stage calls it first
thing when run as ``python -m`` (not when imported by a test). This module imports nothing heavy.
"""
from __future__ import annotations

import os
import platform
import sys

BASELINE = "X86_V2"  # numpy >= 2.3's x86-64 baseline: enabling only it turns every dispatched kernel off


def use_baseline_kernels() -> bool:
    """Restrict numpy to its baseline kernels in this process (x86-64, numpy not yet imported).

    Returns:
        whether the setting is in force: False on another architecture, after numpy was
        imported, or when the user set ``NPY_DISABLE_CPU_FEATURES`` (numpy refuses both variables).
    """
    if platform.machine().lower() not in ("x86_64", "amd64") or "numpy" in sys.modules:
        return False
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        return False
    os.environ.setdefault("NPY_ENABLE_CPU_FEATURES", BASELINE)
    return os.environ["NPY_ENABLE_CPU_FEATURES"] == BASELINE
