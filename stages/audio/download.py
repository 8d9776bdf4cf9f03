"""Stage `audio-download`: the clips every later audio stage reads, checked, plus a manifest.

Sources (``audio.download.source``):
- ``embedded``: no package ships speech, so two clips are generated from ``common.seed``: a voiced,
  speech-like signal (a glottal pulse train with a moving pitch through vowel formant filters) and a
  phone ring tone (two alternating dual-tone chords with an on/off cadence), the stand-ins for the
  course's "音声.mp3" and "携帯電話着信音.mp3". Written as 16-bit WAV.
- ``url``: one audio file, downloaded once and checked against its sha256.
- ``path``: the user's own mp3/wav/ogg/flac files (files or folders, one clip at a time).

Every clip is decoded once here (one at a time) so that an empty, truncated or undecodable file, or
an unsupported format, stops the pipeline with its name before any work is done.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from stages.core.errors import DataError
from stages.core.io import sha256_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.sources import expand_paths, fetch_url
from stages.audio import params
from stages.audio.clips import SUPPORTED, check_format, clip_key, decode
from stages.audio.params import DownloadParams

log = logging.getLogger(__name__)

# Formant frequencies and bandwidths (Hz) of five vowels, adult male averages (Peterson & Barney).
VOWELS = {
    "a": ((730, 1090, 2440), (90, 110, 170)),
    "i": ((270, 2290, 3010), (60, 100, 170)),
    "u": ((300, 870, 2240), (60, 100, 170)),
    "e": ((530, 1840, 2480), (70, 100, 170)),
    "o": ((570, 840, 2410), (80, 100, 170)),
}


def resonator(freq: float, bandwidth: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of a two-pole resonator with unit gain at DC (Klatt's formant filter)."""
    r = np.exp(-np.pi * bandwidth / sr)
    a = np.array([1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r])
    return np.array([a.sum()]), a


def speech_like(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced, speech-like clip: syllables of vowels with a falling-rising pitch contour.

    Each syllable is a glottal pulse train (one impulse per pitch period, pitch moving with a slow
    sine and a declination) filtered through the three formant resonators of its vowel, with a
    raised-cosine envelope; a little breath noise sits under everything. Peak 0.5.

    Returns:
        ``(round(sr * seconds),)`` float32.
    """
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    base = rng.uniform(100.0, 140.0)  # speaker's mean pitch (Hz)
    f0 = base * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))) * (1 - 0.1 * t / max(seconds, 1e-9))
    phase = np.cumsum(f0 / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0)  # 1 at each new pitch period
    source = lfilter([1.0], [1.0, -0.95], pulses)  # glottal roll-off (about -6 dB/octave)

    y = np.zeros(n)
    syllable = 0.3  # s, vowel plus the gap before the next
    starts = np.arange(0.05, seconds, syllable)
    vowels = rng.choice(list(VOWELS), size=len(starts))
    for start, vowel in zip(starts, vowels):
        lo, hi = int(start * sr), min(n, int((start + syllable * 0.8) * sr))
        if hi - lo < 16:
            continue
        seg = source[lo:hi]
        for freq, bw in zip(*VOWELS[vowel]):
            b, a = resonator(freq, bw, sr)
            seg = lfilter(b, a, seg)
        y[lo:hi] += seg * np.hanning(hi - lo)
    y /= max(np.abs(y).max(), 1e-12)  # (a clip shorter than one syllable has none)
    y += 0.01 * rng.standard_normal(n)  # breath noise
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def ring_tone(sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A phone ring: two dual-tone chords alternating 16 times a second, 1 s on and 0.5 s off.

    Returns:
        ``(round(sr * seconds),)`` float32, peak 0.5.
    """
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    low = rng.choice([400.0, 440.0, 480.0])  # the seed picks the chord pair
    chord_a = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * (low * 2.5) * t)
    chord_b = np.sin(2 * np.pi * (low * 1.25) * t) + np.sin(2 * np.pi * (low * 3.0) * t)
    which = np.floor(t * 16) % 2 == 0  # chord A, then B, switching 16 times a second
    cadence = (t % 1.5) < 1.0  # 1 s ringing, 0.5 s silence
    ramp = np.minimum(1.0, np.minimum(t % 1.5, np.maximum(1.0 - t % 1.5, 0)) / 0.01)  # 10 ms fades, no clicks
    y = np.where(which, chord_a, chord_b) * cadence * ramp
    return (0.25 * y).astype(np.float32)


def generate_embedded(sr: int, seconds: float, seed: int) -> dict[str, np.ndarray]:
    """The two embedded clips, deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    return {"voice": speech_like(sr, seconds, rng), "ring": ring_tone(sr, seconds, rng)}


def list_files(src: DownloadParams) -> list[tuple[Path, str]]:
    """The user's (or the downloaded) audio files as (local path, name for messages).

    Raises:
        DataError: a listed file has an unsupported format, or a folder holds no audio file.
    """
    if src.source == "url":
        path = fetch_url(src.url, src.checksum, deadline=src.deadline_seconds)
        return [(path, src.url)]
    files = expand_paths(src.path, SUPPORTED)
    for entry in src.path:
        folder = Path(entry).expanduser()
        if folder.is_dir():
            other = [f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() not in SUPPORTED]
            if other:
                log.warning("%s: %d file(s) that are not %s ignored (e.g. %s)", folder, len(other), "/".join(SUPPORTED), other[0].name)
    return [(f, str(f)) for f in files]


def describe(path: Path, key: str, source: str) -> dict:
    """Check one file by decoding it fully; return its manifest entry.

    Raises:
        DataError: from :func:`stages.audio.clips.decode`, naming the file.
    """
    y, sr, channels = decode(path)
    if channels > 1:
        log.info("%s: %d channels, averaged to mono by every stage", source, channels)
    peak = float(np.abs(y).max())
    if peak == 0.0:
        log.warning("%s: the clip is silent (all samples 0); RMS is 0 and dB figures are flat", source)
    return {"key": key, "file": f"{key}{path.suffix.lower()}", "source": source, "format": path.suffix.lower()[1:],
            "native_sr": sr, "channels": channels, "samples": len(y), "seconds": len(y) / sr, "peak": peak,
            "sha256": sha256_file(path)}


def main(stage: Declared) -> None:
    src = params.load().download
    entries: list[dict] = []
    with stage.outputs() as out:
        folder = out.dir(stage.out("clips"))
        if src.source == "embedded":
            import soundfile as sf

            seed = load_common().seed
            for key, y in generate_embedded(src.embedded.sr, src.embedded.seconds, seed).items():
                sf.write(folder / f"{key}.wav", y, src.embedded.sr, subtype="PCM_16")
                entries.append(describe(folder / f"{key}.wav", key, f"embedded:{key} (seed {seed})"))
        else:
            taken: set[str] = set()
            for path, name in list_files(src):
                check_format(path)  # before copying: an unsupported or empty file stops here
                key = clip_key(path, taken)
                target = folder / f"{key}{path.suffix.lower()}"
                shutil.copyfile(path, target)
                try:
                    entries.append(describe(target, key, name))
                except DataError as exc:  # name the user's file, not the temporary copy
                    raise DataError(str(exc).replace(str(target), name)) from None
        out.json(stage.out("manifest.json"), {"source": src.source, "clips": entries})
    log.info("%d clip(s) (%s) -> %s", len(entries), ", ".join(e["key"] for e in entries), stage.out("clips"))


if __name__ == "__main__":
    run_stage(main)
