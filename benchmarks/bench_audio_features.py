"""Feature extraction of the `audio-features` stage vs a plain loop of the same librosa calls.

Both sides run in this process on the real clips in ../shared/data/audio (or the files/folders given
as arguments), with the settings of ``audio.features`` in params.yaml:
- stage:      ``stages.audio.clips.decode`` + ``stages.audio.features.compute_features`` per clip;
- plain loop: what the course writes: ``librosa.load`` at the native rate and at ``features.sr``,
  numpy RMS, ``librosa.feature.rms``, ``np.fft.rfft`` at both rates, ``librosa.stft`` +
  ``amplitude_to_db``, ``librosa.feature.melspectrogram(y=...)`` + ``power_to_db``.
Figures and file writes are left out of both. Each side is timed ``--repeat`` times, interleaved,
after one warm-up; the median (and, as a check on a busy machine, the minimum) is reported.
Goal: stage / plain loop <= 1.1 on the medians.

Run: python benchmarks/bench_audio_features.py [--repeat 7] [FILE_OR_FOLDER ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from stages.audio.clips import SUPPORTED, decode  # noqa: E402
from stages.audio.features import compute_features  # noqa: E402
from stages.audio.params import FeaturesParams  # noqa: E402
from stages.core.params import read_params_file, validate_section  # noqa: E402
from stages.core.sources import expand_paths  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "audio"


def stage(files: list[Path], p: FeaturesParams) -> list:
    out = []
    for path in files:
        y, sr, _ = decode(path)
        out.append(compute_features(y, sr, p))
    return out


def plain_loop(files: list[Path], p: FeaturesParams) -> list:
    out = []
    for path in files:
        y, sr = librosa.load(path, sr=None)
        y_r, rate = librosa.load(path, sr=p.sr)
        rms_total = np.sqrt(np.mean(y**2))
        rms = librosa.feature.rms(y=y_r, frame_length=p.n_fft, hop_length=p.hop_length)
        fft = np.abs(np.fft.rfft(y)), np.abs(np.fft.rfft(y_r))
        stft_db = librosa.amplitude_to_db(np.abs(librosa.stft(y_r, n_fft=p.n_fft, hop_length=p.hop_length)), ref=np.max, top_db=p.top_db)
        mel = librosa.feature.melspectrogram(y=y_r, sr=rate, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels)
        mel_db = librosa.power_to_db(mel, ref=np.max, top_db=p.top_db)
        out.append((rms_total, rms, fft, stft_db, mel_db))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", default=[str(DEFAULT_DATA)])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for both sides (0: library default)")
    args = ap.parse_args()

    p = validate_section(read_params_file(ROOT / "params.yaml")["audio"], "features", FeaturesParams, ROOT / "params.yaml")
    files = expand_paths(args.inputs, SUPPORTED)
    seconds = sum(librosa.get_duration(path=f) for f in files)

    # Same numbers from both sides (checked once, outside the timing).
    ours, theirs = stage(files, p), plain_loop(files, p)
    for f, (rms_total, rms, _, stft_db, mel_db) in zip(ours, theirs):
        assert np.isclose(f.rms_total, rms_total, rtol=1e-5) and np.array_equal(f.rms, rms[0])
        assert np.abs(f.stft_db - stft_db).max() < 1e-3 and np.abs(f.mel_db - mel_db).max() < 1e-3

    from threadpoolctl import threadpool_limits

    times: dict[str, list[float]] = {"stage": [], "plain": []}
    cpu: dict[str, list[float]] = {"stage": [], "plain": []}
    with threadpool_limits(limits=args.threads or None):  # BLAS/FFT threads spin on a busy machine: pin them
        for _ in range(args.repeat):  # interleaved: drifts in machine load hit both sides alike
            for name, fn in (("stage", stage), ("plain", plain_loop)):
                start, start_cpu = time.perf_counter(), time.process_time()
                fn(files, p)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    t_stage, t_plain = statistics.median(times["stage"]), statistics.median(times["plain"])
    rows = {
        "clips": len(files),
        "audio seconds": round(seconds, 2),
        "features.sr / n_fft / hop / n_mels": f"{p.sr} / {p.n_fft} / {p.hop_length} / {p.n_mels}",
        "repeats": args.repeat,
        "threads": args.threads or "default",
        "stage time, median (s)": t_stage,
        "plain loop time, median (s)": t_plain,
        "ratio stage / plain loop": t_stage / t_plain,
        "ratio of the minimum times": min(times["stage"]) / min(times["plain"]),
        "ratio of the median CPU times": statistics.median(cpu["stage"]) / statistics.median(cpu["plain"]),
        "goal": "ratio <= 1.1",
        "met": bool(t_stage / t_plain <= 1.1),
    }
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "audio_features.json").write_text(json.dumps(rows, indent=2) + "\n")
    width = max(map(len, rows))
    for key, value in rows.items():
        print(f"{key.ljust(width)}  {value:.4f}" if isinstance(value, float) else f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
