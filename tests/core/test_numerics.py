"""stages.core.numerics: the same float bytes on every x86-64 host for the stages that ask for it
(numpy's baseline kernels, OpenBLAS's Haswell kernels where the CPU has AVX2 and FMA)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stages.core.numerics import BLAS_CORE, cpu_flags, pins_blas_core
from tests.conftest import ROOT

# a fresh interpreter: the setting only works before numpy is imported
PROBE = """
import json
from stages.core.numerics import use_baseline_kernels
in_force = use_baseline_kernels()
import numpy, threadpoolctl
blas = [i.get("architecture") for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
print(json.dumps({"in_force": in_force, "blas": blas}))
"""


def probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_ENABLE_CPU_FEATURES",
                                                               "NPY_DISABLE_CPU_FEATURES", "PYTHONPATH")}
    proc = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_cpu_flags_reads_the_flags_line_and_nothing_when_unreadable(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma\nbugs\t\t: none\n")
    assert cpu_flags(info) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(tmp_path / "absent") == frozenset()
    info.write_text("processor\t: 0\n")  # no flags line (another architecture's format)
    assert cpu_flags(info) == frozenset()
    info.write_text("flags\t\t: fpu sse2 avx\n")  # no AVX2: OpenBLAS keeps the kernels it picks itself
    assert not pins_blas_core(info)


needs_avx2 = pytest.mark.skipif(not pins_blas_core(),
                                reason="OpenBLAS is pinned only on an x86-64 CPU with AVX2 and FMA")


@needs_avx2
def test_openblas_runs_its_haswell_kernels_whatever_this_cpu_would_pick():
    """On an AVX-512 Xeon OpenBLAS picks SkylakeX's kernels on its own, and audio-features' mel
    spectrograms came out in other bytes than on an AMD host (Zen's kernels, which are Haswell's)."""
    found = probe()
    assert found["in_force"] is True
    assert found["blas"] and set(found["blas"]) == {BLAS_CORE}, found


@needs_avx2
def test_a_core_type_the_user_set_is_kept():
    assert set(probe(OPENBLAS_CORETYPE="Sandybridge")["blas"]) == {"Sandybridge"}
