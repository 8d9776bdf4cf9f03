"""Same float bytes on every x86-64 host, for data stages whose outputs come from numpy float math.

numpy picks SIMD kernels when it is imported (AVX2, AVX-512, by CPU), and their float results
differ in the last bits: audio-effects' phase vocoder and VTLN outputs, and audio-features'
dB spectrograms, differed between numpy's AVX-512 and AVX2 kernels on the same input
(benchmarks/bench_effects_baseline.py). Rounding the stored values does not help: some values
still round the other way. :func:`use_baseline_kernels` limits numpy to its baseline kernels, the
same code on every x86-64 CPU. It works only before numpy is imported, so a stage calls it first
thing when run as ``python -m`` (not when imported by a test). This module imports nothing heavy.

Matrix products go to OpenBLAS (numpy's and scipy's), which picks its kernels by CPU too: on an
AVX-512 Intel Xeon it took SkylakeX's, on an AMD EPYC Zen's, and audio-features' mel spectrograms
(``mel_basis @ power``) differed in their bytes between the two hosts. Where the CPU has AVX2 and
FMA, OpenBLAS is pinned to its Haswell kernels, those Zen's are (the same bytes, measured on the
Intel host: ``OPENBLAS_CORETYPE`` Haswell and Zen gave the committed ``dvc.lock``'s hash, the
default SkylakeX another). A CPU without AVX2 keeps its own kernels (it cannot run those).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

BASELINE = "X86_V2"  # numpy >= 2.3's x86-64 baseline: enabling only it turns every dispatched kernel off
BLAS_CORE = "Haswell"  # OpenBLAS's AVX2 + FMA kernels: what it picks on its own on AMD Zen
BLAS_CORE_NEEDS = frozenset({"avx2", "fma"})  # the CPU flags (/proc/cpuinfo) those kernels use


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where the file cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def pins_blas_core(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether :func:`use_baseline_kernels` pins OpenBLAS here: an x86-64 CPU with AVX2 and FMA."""
    return platform.machine().lower() in ("x86_64", "amd64") and BLAS_CORE_NEEDS <= cpu_flags(cpuinfo)


def use_baseline_kernels() -> bool:
    """Restrict numpy to its baseline kernels in this process (x86-64, numpy not yet imported), and
    OpenBLAS to its Haswell kernels where the CPU has AVX2 and FMA (``OPENBLAS_CORETYPE``; a value the
    user set is kept). Child processes (Dask workers) inherit both.

    Returns:
        whether the setting is in force: False on another architecture, after numpy was
        imported, or when the user set ``NPY_DISABLE_CPU_FEATURES`` (numpy refuses both variables).
    """
    if platform.machine().lower() not in ("x86_64", "amd64") or "numpy" in sys.modules:
        return False
    if pins_blas_core():
        os.environ.setdefault("OPENBLAS_CORETYPE", BLAS_CORE)
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):
        return False
    os.environ.setdefault("NPY_ENABLE_CPU_FEATURES", BASELINE)
    return os.environ["NPY_ENABLE_CPU_FEATURES"] == BASELINE
