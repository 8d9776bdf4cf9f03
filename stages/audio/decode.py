"""Stage `audio-decode`: each clip at its native rate and resampled (course knocks 72-75).

Per clip: sample rate, shape, min and max at the native rate and at every rate in
``audio.decode.rates`` (22,050 and 8,000 Hz); the first ``cut_seconds`` cut; WAV copies at each
rate and of the cut; one figure of the waveforms (librosa.display.waveshow) at each rate and of the cut.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.core.figures import new_figure, save
from stages.core.parallel import map_files
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.audio import params
from stages.audio.clips import Clip, load_clip, read_manifest, resample, write_float_wav, write_json
from stages.audio.params import DecodeParams

log = logging.getLogger(__name__)


def at_rates(clip: Clip, rates: list[int]) -> dict[int, np.ndarray]:
    """The clip at its native rate (first) and at each of ``rates`` (native rate not repeated)."""
    out = {clip.sr: clip.y}
    for rate in rates:
        if rate not in out:
            out[rate] = resample(clip.y, clip.sr, rate)
    return out


def summarize(y: np.ndarray, sr: int) -> dict:
    """Rate, shape, min, max and length of one signal."""
    return {"sr": sr, "shape": list(y.shape), "min": float(y.min()), "max": float(y.max()), "seconds": len(y) / sr}


def cut(y: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """The first ``seconds`` of ``y`` (all of it when shorter; a copy).

    Raises:
        ValueError: ``seconds`` is not positive.
    """
    if seconds <= 0:
        raise ValueError(f"cut length must be positive, got {seconds}")
    return y[: int(round(seconds * sr))].copy()


def waveform_figure(title: str, signals: dict[int, np.ndarray], first: np.ndarray, native_sr: int, seconds: float):
    """One row per rate (waveshow) and a last row for the cut at the native rate."""
    import librosa.display

    fig, axes = new_figure(len(signals) + 1, 1, figsize=(8, 1.6 * (len(signals) + 1)), sharex=True)
    for ax, (rate, y) in zip(axes, signals.items()):
        librosa.display.waveshow(y, sr=rate, ax=ax, color="tab:blue")
        ax.set(title=f"{rate} Hz, {len(y)} samples", xlabel="", ylabel="amplitude")
    librosa.display.waveshow(first, sr=native_sr, ax=axes[-1], color="tab:orange")
    axes[-1].set(title=f"first {seconds:g} s at {native_sr} Hz", xlabel="time (s)", ylabel="amplitude")
    for ax in axes:
        ax.label_outer()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def decode_clip(entry: dict, clips_dir: str, root: Path, decode_params: DecodeParams) -> tuple[str, dict]:
    """One clip: its WAV copies at each rate and of the cut, and its waveform figure, written into
    ``root/<key>/``. Runs in this process or on a Dask worker (``audio.decode.parallel``).

    Returns:
        (the clip's key, its summary).
    """
    clip = load_clip(entry, clips_dir)
    folder = Path(root) / clip.key
    folder.mkdir()
    signals = at_rates(clip, decode_params.rates)
    first = cut(clip.y, clip.sr, decode_params.cut_seconds)
    for rate, y in signals.items():
        if rate != clip.sr:
            write_float_wav(folder / f"sr{rate}.wav", y, rate)
    write_float_wav(folder / "first.wav", first, clip.sr)
    summary = {
        "source": entry["source"],
        "native_sr": clip.sr,
        "rates": {str(rate): summarize(y, rate) for rate, y in signals.items()},
        "first": summarize(first, clip.sr),
    }
    save(waveform_figure(clip.key, signals, first, clip.sr, decode_params.cut_seconds), folder / "waveform.png")
    log.info("%s: %d Hz, %.2f s; min %.3f max %.3f", clip.key, clip.sr, clip.seconds, clip.y.min(), clip.y.max())
    return clip.key, summary


def main(stage: Declared) -> None:
    decode_params = params.load().decode
    entries = read_manifest(stage.dep("manifest.json"))
    with stage.outputs() as out:
        root = out.dir(stage.out("decode"))
        summary = dict(map_files(decode_clip, entries, decode_params.parallel, str(stage.dep("clips")), root, decode_params,
                                 desc="decode"))
        write_json(root / "summary.json", summary)


if __name__ == "__main__":
    run_stage(main)
