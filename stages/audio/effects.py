"""Stage `audio-effects`: pitch shift, time stretch, VTLN and clipping of each clip (knock 79, Q.11).

Every effect in ``audio.effects`` is applied to every clip at ``audio.effects.sr``:
- pitch shift by each of ``pitch_steps`` semitones (librosa.effects.pitch_shift; course: +10, -5);
- time stretch by each of ``stretch_rates`` (librosa.effects.time_stretch; course: 0.5, 2.0);
- VTLN, vocal tract length normalisation, by each of ``vtln_alpha``: the STFT magnitude is warped
  along the frequency axis with a piecewise-linear map (frequencies below the knee scaled by alpha,
  the rest mapped linearly onto what is left up to Nyquist), the phase kept, then inverted;
- clipping at each of ``clip_threshold`` x the clip's peak |x| (hard clip, no rescaling).
Outputs per clip: one 32-bit float WAV per effect (no clipping of overshoot on write) and one figure
of every mel spectrogram; ``effects.json`` lists lengths and peaks.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

if __name__ == "__main__":  # before numpy is imported: the same float bytes on every x86-64 CPU
    from stages.core.numerics import use_baseline_kernels

    use_baseline_kernels()

import numpy as np  # noqa: E402 - after the line above, on purpose

from stages.core.figures import new_figure, save
from stages.core.parallel import map_files
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.audio import params
from stages.audio.clips import load_clip, power_db, read_manifest, resample, write_float_wav, write_json
from stages.audio.params import EffectsParams

log = logging.getLogger(__name__)

N_FFT, HOP = 2048, 512  # STFT of the VTLN warp and of the figure's mel spectrograms


def pitch_shift(y: np.ndarray, sr: int, steps: float) -> np.ndarray:
    """``y`` shifted by ``steps`` semitones, same length."""
    import librosa

    return librosa.effects.pitch_shift(y, sr=sr, n_steps=steps)


def time_stretch(y: np.ndarray, rate: float) -> np.ndarray:
    """``y`` played ``rate`` times as fast at the same pitch (length ~ len(y) / rate).

    Raises:
        ValueError: ``rate`` is not positive.
    """
    import librosa

    if rate <= 0:
        raise ValueError(f"time-stretch rate must be positive, got {rate}")
    return librosa.effects.time_stretch(y, rate=rate)


def vtln_source_bins(n_bins: int, alpha: float, cutoff: float) -> np.ndarray:
    """For each output STFT bin, the (fractional) input bin it takes its magnitude from.

    Forward warp: f -> alpha * f below the knee ``f0 = cutoff * nyq / max(alpha, 1)``, then linear
    from (f0, alpha * f0) to (nyq, nyq), so 0 and Nyquist stay fixed and the map is monotonic.

    Raises:
        ValueError: ``alpha`` not positive or ``cutoff`` outside (0, 1).
    """
    if alpha <= 0:
        raise ValueError(f"VTLN alpha must be positive, got {alpha}")
    if not 0 < cutoff < 1:
        raise ValueError(f"VTLN cutoff must lie in (0, 1), got {cutoff}")
    nyq = n_bins - 1
    f0 = cutoff * nyq / max(alpha, 1.0)
    return np.interp(np.arange(n_bins), [0.0, alpha * f0, nyq], [0.0, f0, nyq])  # inverse of the forward map


def vtln(y: np.ndarray, alpha: float, cutoff: float) -> np.ndarray:
    """Frequency-warp ``y``'s spectral envelope by ``alpha`` (> 1: shorter vocal tract, higher formants)."""
    import librosa

    spec = librosa.stft(y, n_fft=N_FFT, hop_length=HOP)  # (1 + N_FFT/2, n_frames) complex
    magnitude, phase = np.abs(spec), np.angle(spec)
    src = vtln_source_bins(spec.shape[0], alpha, cutoff)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, spec.shape[0] - 1)
    w = (src - lo)[:, None]
    warped = magnitude[lo] * (1 - w) + magnitude[hi] * w  # linear interpolation along frequency
    return librosa.istft(warped * np.exp(1j * phase), hop_length=HOP, length=len(y)).astype(np.float32)


def clip_signal(y: np.ndarray, threshold: float) -> np.ndarray:
    """Hard-clip ``y`` at ``threshold`` x its peak |y| (a silent clip stays silent).

    Raises:
        ValueError: ``threshold`` outside (0, 1].
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"clipping threshold must lie in (0, 1] (a fraction of the peak), got {threshold}")
    level = threshold * float(np.abs(y).max())
    return np.clip(y, -level, level)


def apply_effects(y: np.ndarray, sr: int, effects_params: EffectsParams) -> Iterator[tuple[str, np.ndarray]]:
    """(name, signal) for every effect in ``effects_params``, one at a time."""
    for steps in effects_params.pitch_steps:
        yield f"pitch_{steps:+g}", pitch_shift(y, sr, steps)
    for rate in effects_params.stretch_rates:
        yield f"stretch_{rate:g}", time_stretch(y, rate)
    for alpha in effects_params.vtln_alpha:
        yield f"vtln_{alpha:g}", vtln(y, alpha, effects_params.vtln_cutoff)
    for threshold in effects_params.clip_threshold:
        yield f"clip_{threshold:g}", clip_signal(y, threshold)


def spectrograms_figure(title: str, signals: dict[str, np.ndarray], sr: int):
    """One mel spectrogram (dB, 128 bands) per signal, stacked, on a common time axis."""
    import librosa
    import librosa.display

    fig, axes = new_figure(len(signals), 1, figsize=(8, 1.5 * len(signals) + 0.6), squeeze=False)
    longest = max(len(y) for y in signals.values()) / sr
    for ax, (name, y) in zip(axes[:, 0], signals.items()):
        db = power_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=N_FFT, hop_length=HOP, n_mels=128), 80.0)
        librosa.display.specshow(db, sr=sr, hop_length=HOP, x_axis="time", y_axis="mel", ax=ax, vmin=-80, vmax=0)
        ax.set(xlim=(0, longest), xlabel="", ylabel="Hz")
        ax.set_title(name, fontsize=9, loc="left")
        ax.label_outer()
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{title} at {sr} Hz: mel spectrograms (dB)")
    fig.tight_layout()
    return fig


def effects_of_clip(entry: dict, clips_dir: str, root: Path, effects_params: EffectsParams) -> tuple[str, dict]:
    """One clip: a WAV per effect and the spectrograms figure, written into ``root/<key>/``. Runs in
    this process or on a Dask worker (``audio.effects.parallel``).

    Returns:
        (the clip's key, each signal's length and peak).
    """
    clip = load_clip(entry, clips_dir)
    rate = effects_params.sr or clip.sr
    y = resample(clip.y, clip.sr, rate)
    folder = Path(root) / clip.key
    folder.mkdir()
    signals = {"original": y}
    for name, z in apply_effects(y, rate, effects_params):
        write_float_wav(folder / f"{name}.wav", z, rate)
        signals[name] = z
    summary = {name: {"seconds": len(z) / rate, "peak": float(np.abs(z).max())} for name, z in signals.items()}
    save(spectrograms_figure(clip.key, signals, rate), folder / "spectrograms.png")
    log.info("%s: %d effect(s) at %d Hz", clip.key, len(signals) - 1, rate)
    return clip.key, summary


def main(stage: Declared) -> None:
    effects_params = params.load().effects
    entries = read_manifest(stage.dep("manifest.json"))
    with stage.outputs() as out:
        root = out.dir(stage.out("effects"))
        summary = dict(map_files(effects_of_clip, entries, effects_params.parallel, str(stage.dep("clips")), root, effects_params,
                                 desc="effects"))
        write_json(root / "effects.json", {"sr": effects_params.sr, "clips": summary})


if __name__ == "__main__":
    run_stage(main)
