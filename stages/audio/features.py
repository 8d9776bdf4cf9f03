"""Stage `audio-features`: loudness and spectra of each clip (course knocks 76-78), saved for training.

Per clip:
- RMS of the whole signal (numpy) and framewise (librosa.feature.rms), one figure with both;
- FFT amplitude spectrum at the native rate and at ``audio.features.sr`` (22,050 Hz), one figure;
- STFT spectrogram in dB and mel spectrogram in dB at ``audio.features.sr``, one figure;
- every array in ``features.npz`` (rms, rms_times, fft_<rate>, fft_freqs_<rate>, stft_db, mel_db).
The whole-signal RMS per clip is the stage's metric; the framewise RMS curves are its plot.

A silent clip (RMS 0) is computed, not refused: its dB spectrograms are flat at ``-top_db`` and a
warning is logged; nothing divides by its zero peak.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
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
from stages.audio.clips import load_clip, power_db, read_manifest, resample
from stages.audio.params import FeaturesParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipFeatures:
    sr: int  # rate of rms, stft_db and mel_db
    rms_total: float  # sqrt(mean(y^2)) over the whole clip at the native rate
    rms: np.ndarray  # (n_frames,) framewise RMS
    spectra: dict[int, tuple[np.ndarray, np.ndarray]]  # rate -> (freqs (n_bins,), amplitude (n_bins,))
    stft_db: np.ndarray  # (1 + n_fft/2, n_frames) dB re the loudest bin
    mel_db: np.ndarray  # (n_mels, n_frames) dB re the loudest band

    def arrays(self, hop_length: int) -> dict[str, np.ndarray]:
        """Everything as named arrays for ``np.savez`` (later training stages read these)."""
        import librosa

        out = {"rms": self.rms, "rms_times": librosa.frames_to_time(np.arange(len(self.rms)), sr=self.sr, hop_length=hop_length),
               "stft_db": self.stft_db, "mel_db": self.mel_db, "sr": np.array(self.sr)}
        for rate, (freqs, amp) in self.spectra.items():
            out[f"fft_{rate}"], out[f"fft_freqs_{rate}"] = amp, freqs
        return out


def rms_total(y: np.ndarray) -> float:
    """Root mean square of the whole signal: sqrt(mean(y^2)); 0 for a silent clip."""
    return float(np.sqrt(np.mean(np.square(y))))


def amplitude_spectrum(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """|FFT| of the whole signal over its non-negative frequencies.

    Returns:
        (freqs, amplitude), both ``(len(y) // 2 + 1,)``.

    Raises:
        ValueError: ``y`` is empty.
    """
    if len(y) == 0:
        raise ValueError("cannot take the spectrum of an empty signal")
    return np.fft.rfftfreq(len(y), d=1.0 / sr), np.abs(np.fft.rfft(y))


def compute_features(y: np.ndarray, sr: int, features_params: FeaturesParams) -> ClipFeatures:
    """All features of one clip decoded at its native rate ``sr``.

    The STFT magnitude is computed once and reused for the mel spectrogram (``S=|STFT|^2`` gives
    the same mel bands as passing ``y``).
    """
    import librosa

    rate = features_params.sr or sr
    y_r = resample(y, sr, rate)  # (n * rate / sr,)
    spectra = {sr: amplitude_spectrum(y, sr)}
    if rate != sr:
        spectra[rate] = amplitude_spectrum(y_r, rate)
    rms = librosa.feature.rms(y=y_r, frame_length=features_params.n_fft, hop_length=features_params.hop_length)[0]  # (n_frames,)
    # magnitude: (1 + n_fft/2, n_frames)
    magnitude = np.abs(librosa.stft(y_r, n_fft=features_params.n_fft, hop_length=features_params.hop_length))
    power = magnitude**2
    mel = librosa.feature.melspectrogram(S=power, sr=rate, n_fft=features_params.n_fft, hop_length=features_params.hop_length,
                                         n_mels=features_params.n_mels)
    return ClipFeatures(rate, rms_total(y), rms, spectra, power_db(power, features_params.top_db),
                        power_db(mel, features_params.top_db))


def _envelope(x: np.ndarray, points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """(index, max) over ``points`` buckets: a long spectrum drawn fast without losing its peaks."""
    step = max(1, len(x) // points)
    n = len(x) // step * step
    return np.arange(0, n, step) + step // 2, x[:n].reshape(-1, step).max(axis=1)


def rms_figure(title: str, y: np.ndarray, sr: int, f: ClipFeatures, hop_length: int):
    import librosa
    import librosa.display

    fig, ax = new_figure(figsize=(8, 2.8))
    librosa.display.waveshow(y, sr=sr, ax=ax, color="0.75", label="waveform")
    times = librosa.frames_to_time(np.arange(len(f.rms)), sr=f.sr, hop_length=hop_length)
    ax.plot(times, f.rms, color="tab:red", label="framewise RMS (librosa)")
    ax.axhline(f.rms_total, color="tab:blue", ls="--", label=f"whole-signal RMS = {f.rms_total:.4f}")
    ax.set(title=title, xlabel="time (s)", ylabel="amplitude")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def spectrum_figure(title: str, f: ClipFeatures):
    fig, axes = new_figure(len(f.spectra), 1, figsize=(8, 2.2 * len(f.spectra)), squeeze=False)
    for ax, (rate, (freqs, amp)) in zip(axes[:, 0], f.spectra.items()):
        idx, peak = _envelope(amp)
        ax.plot(freqs[idx], peak, lw=0.8)
        ax.set(title=f"{title}: |FFT| at {rate} Hz", xlabel="frequency (Hz)", ylabel="amplitude", xlim=(0, rate / 2))
    fig.tight_layout()
    return fig


def spectrogram_figure(title: str, f: ClipFeatures, features_params: FeaturesParams):
    import librosa.display

    fig, axes = new_figure(2, 1, figsize=(8, 5.5), sharex=True)
    img = librosa.display.specshow(f.stft_db, sr=f.sr, hop_length=features_params.hop_length, x_axis="time", y_axis="log",
                                   ax=axes[0])
    axes[0].set(title=f"{title}: STFT (dB)", xlabel="")
    fig.colorbar(img, ax=axes[0], format="%+.0f dB")
    img = librosa.display.specshow(f.mel_db, sr=f.sr, hop_length=features_params.hop_length, x_axis="time", y_axis="mel",
                                   ax=axes[1])
    axes[1].set(title=f"mel spectrogram, {features_params.n_mels} bands (dB)")
    fig.colorbar(img, ax=axes[1], format="%+.0f dB")
    fig.tight_layout()
    return fig


def features_of_clip(entry: dict, clips_dir: str, root: Path, features_params: FeaturesParams) -> tuple[str, dict, str]:
    """One clip: ``features.npz`` and its three figures written into ``root/<key>/``. Runs in this
    process or on a Dask worker (``audio.features.parallel``).

    Returns:
        (the clip's key, its metrics, its rows of rms.csv).
    """
    clip = load_clip(entry, clips_dir)
    f = compute_features(clip.y, clip.sr, features_params)
    if f.rms_total == 0.0:
        log.warning("%s: silent clip (RMS 0); dB spectrograms are flat at -%g dB", entry["source"], features_params.top_db)
    folder = Path(root) / clip.key
    folder.mkdir()
    arrays = f.arrays(features_params.hop_length)
    with open(folder / "features.npz", "wb") as fh:
        np.savez_compressed(fh, **arrays)
    save(rms_figure(clip.key, clip.y, clip.sr, f, features_params.hop_length), folder / "rms.png")
    save(spectrum_figure(clip.key, f), folder / "spectrum.png")
    save(spectrogram_figure(clip.key, f, features_params), folder / "spectrogram.png")
    curve = "".join(f"{clip.key},{t:.4f},{r:.6g}\n" for t, r in zip(arrays["rms_times"], f.rms))
    metrics = {"rms": f.rms_total, "rms_frames_max": float(f.rms.max()), "peak": float(np.abs(clip.y).max()),
               "seconds": clip.seconds, "silent": f.rms_total == 0.0}
    log.info("%s: RMS %.4f, %d frames, STFT %s, mel %s", clip.key, f.rms_total, len(f.rms), f.stft_db.shape, f.mel_db.shape)
    return clip.key, metrics, curve


def main(stage: Declared) -> None:
    features_params = params.load().features
    entries = read_manifest(stage.dep("manifest.json"))
    metrics: dict[str, dict] = {}
    with stage.outputs() as out:
        root = out.dir(stage.out("clips"))
        with open(out.path(stage.out("rms.csv")), "w") as curve:
            curve.write("clip,time_s,rms\n")
            for key, values, rows in map_files(features_of_clip, entries, features_params.parallel, str(stage.dep("clips")), root,
                                               features_params, desc="features"):
                curve.write(rows)
                metrics[key] = values
        out.json(stage.out("metrics.json"), {"clips": metrics})


if __name__ == "__main__":
    run_stage(main)
