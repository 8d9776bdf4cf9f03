"""Benchmark: a per-file stage over many clips, serial (`parallel: none`) against Dask
(`parallel: local`, one worker process per core), as a speed-up, with the peak memory of each and a
byte-for-byte comparison of their outputs.

It runs the stages' own per-clip functions through :func:`stages.core.parallel.map_files`, exactly as
the stages do, on `--clips` generated clips (a voice-like signal per clip, `common.seed`-style seeded),
with the committed params of `audio.features` (and `audio.effects` with `--stage effects`). Peak memory
is the largest sum of the resident memory of this process and its children (the Dask workers),
sampled every 50 ms. The machine's load average is printed with the figures: on a shared machine it
bounds the speed-up.

    python benchmarks/bench_dask.py [--clips 200] [--seconds 1.0] [--stage features|effects]
"""
from __future__ import annotations

import argparse
import filecmp
import os
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, write_result

import numpy as np  # noqa: E402
import psutil  # noqa: E402


class PeakMemory:
    """Largest RSS of this process plus all its descendants, sampled in a thread."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak, self._stop = every, 0, threading.Event()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.every)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def make_clips(folder: Path, n: int, seconds: float, sr: int = 22050) -> list[dict]:
    from stages.audio.clips import write_float_wav
    from stages.audio.download import speech_like

    folder.mkdir(parents=True)
    entries = []
    for i in range(n):
        y = speech_like(sr, seconds, np.random.default_rng(i)).astype(np.float32)
        write_float_wav(folder / f"clip{i:04d}.wav", y, sr)
        entries.append({"key": f"clip{i:04d}", "file": f"clip{i:04d}.wav", "source": f"clip{i:04d}.wav"})
    return entries


def differing(a: Path, b: Path) -> int:
    files = {p.relative_to(a) for p in a.rglob("*") if p.is_file()} | {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    return sum(1 for f in files if not ((a / f).is_file() and (b / f).is_file() and filecmp.cmp(a / f, b / f, shallow=False)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each clip")
    ap.add_argument("--stage", choices=["features", "effects"], default="features")
    args = ap.parse_args()
    os.chdir(ROOT)
    from stages.audio import params
    from stages.core.parallel import map_files

    if args.stage == "features":
        from stages.audio.features import features_of_clip as fn
        p = params.load().features
    else:
        from stages.audio.effects import effects_of_clip as fn
        p = params.load().effects
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        tmp = Path(tmp)
        entries = make_clips(tmp / "clips", args.clips, args.seconds)
        timings, peaks = {}, {}
        for mode in ("none", "local"):
            out = tmp / mode
            out.mkdir()
            load = os.getloadavg()[0]
            with PeakMemory() as mem:
                start = time.perf_counter()
                for _ in map_files(fn, entries, mode, str(tmp / "clips"), out, p, desc=args.stage):
                    pass
                timings[mode] = time.perf_counter() - start
            peaks[mode] = mem.peak / 2**20
            print(f"parallel: {mode:5s}  {timings[mode]:7.1f} s  peak memory {peaks[mode]:6.0f} MB  "
                  f"(load average before: {load:.1f} on {cores} cores)", flush=True)
        diff = differing(tmp / "none", tmp / "local")
    result = {"stage": f"audio-{args.stage}", "clips": args.clips, "seconds_per_clip": args.seconds, "cores": cores,
              "serial_s": timings["none"], "dask_local_s": timings["local"], "speedup": timings["none"] / timings["local"],
              "serial_peak_mb": peaks["none"], "dask_peak_mb": peaks["local"], "files_differing": diff,
              "load_average_1min_after": os.getloadavg()[0]}
    print(f"speed-up {result['speedup']:.2f}x (goal >= 1.6x on 2 cores); files differing: {diff}; "
          f"load average now {result['load_average_1min_after']:.1f}")
    write_result(f"bench_dask_{args.stage}", result)


if __name__ == "__main__":
    main()
