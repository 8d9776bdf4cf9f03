"""audio-effects (and audio-features' dB spectrograms) under numpy's CPU-dispatched kernels vs its
baseline kernels: same bytes? how fast?

numpy chooses SIMD kernels at import by CPU (AVX2 or AVX-512 on x86-64), and their float results
differ in the last bits, so the effects of one host differ from another's. The stage therefore runs
numpy on its baseline kernels (stages/audio/effects.py). This script computes every effect of the
embedded clips (the stage's own functions) in a fresh process per setting:

- ``dispatch``: numpy's default on this CPU;
- ``avx2``: the AVX-512 kernels disabled, as numpy runs on an x86-64 CPU without AVX-512;
- ``baseline``: what the stage uses (``NPY_ENABLE_CPU_FEATURES=X86_V2``);

and reports the sha256 of each output array (as float32 and, for signals, as 16-bit PCM) and the
seconds spent in the effects, with the ratio baseline / dispatch. Run it on two hosts and compare the ``baseline``
hashes: they must be equal. Usage: ``python benchmarks/bench_effects_baseline.py [--repeat N]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

from _common import ROOT, write_result

SETTINGS = {
    "dispatch": {},
    "avx2": {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"},
    "baseline": {"NPY_ENABLE_CPU_FEATURES": "X86_V2"},
}

WORKER = r"""
import hashlib, io, json, time
import numpy as np
import soundfile as sf
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
from stages.audio import params
from stages.audio.clips import resample
from stages.audio.download import generate_embedded
from stages.audio.effects import apply_effects
from stages.audio.features import compute_features

ap = params.load()
src, p = ap.download, ap.effects
hashes, seconds = {}, 0.0
for key, y in generate_embedded(src.embedded.sr, src.embedded.seconds, 42).items():
    buf = io.BytesIO()
    sf.write(buf, y, src.embedded.sr, subtype="PCM_16", format="WAV")  # as audio-download stores it
    buf.seek(0)
    y, sr = sf.read(buf, dtype="float32")
    rate = p.sr or sr
    start = time.perf_counter()
    signals = [("resampled", resample(y, sr, rate)), *apply_effects(resample(y, sr, rate), rate, p)]
    seconds += time.perf_counter() - start
    f = compute_features(resample(y, sr, ap.features.sr or sr), ap.features.sr or sr, ap.features)
    signals += [("features_stft_db", f.stft_db), ("features_mel_db", f.mel_db)]
    for name, z in signals:
        z = np.asarray(z, np.float32)
        h = {"float32": hashlib.sha256(z.tobytes()).hexdigest()[:16]}
        if not name.startswith("features_"):  # signals: would storing 16-bit PCM hide the difference?
            pcm = np.clip(np.round(z * 32767), -32768, 32767).astype(np.int16)
            h["pcm16"] = hashlib.sha256(pcm.tobytes()).hexdigest()[:16]
        hashes[f"{key}/{name}"] = h
print(json.dumps({"kernels": [k for k in __cpu_dispatch__ if __cpu_features__.get(k)], "seconds": seconds,
                  "hashes": hashes}))
"""


def run(setting: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPY_") or not k.endswith("CPU_FEATURES")}
    env.update(SETTINGS[setting], PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{setting}: exited {proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per setting (the median time is reported)")
    args = ap.parse_args()

    runs = {s: [run(s) for _ in range(args.repeat)] for s in SETTINGS}
    first = {s: r[0] for s, r in runs.items()}
    keys = list(first["dispatch"]["hashes"])
    differ = {s: sorted(k for k in keys if first[s]["hashes"][k]["float32"] != first["dispatch"]["hashes"][k]["float32"])
              for s in ("avx2", "baseline")}
    differ_pcm = {s: sorted(k for k in keys if "pcm16" in first[s]["hashes"][k]
                            and first[s]["hashes"][k]["pcm16"] != first["dispatch"]["hashes"][k]["pcm16"])
                  for s in ("avx2", "baseline")}
    seconds = {s: statistics.median(x["seconds"] for x in r) for s, r in runs.items()}
    result = {
        "host": {"machine": platform.machine(), "cpu": _cpu_name()},
        "kernels": {s: r["kernels"] for s, r in first.items()},
        "repeatable": {s: all(x["hashes"] == r[0]["hashes"] for x in r) for s, r in runs.items()},
        "arrays_differing_from_dispatch_float32": differ,
        "arrays_differing_from_dispatch_pcm16": differ_pcm,
        "effects_seconds_median": seconds,
        "ratio_baseline_over_dispatch": seconds["baseline"] / seconds["dispatch"],
        "baseline_hashes": {k: v["float32"] for k, v in first["baseline"]["hashes"].items()},
    }
    print(json.dumps(result, indent=2))
    print(f"written to {write_result('effects_baseline', result)}")


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
