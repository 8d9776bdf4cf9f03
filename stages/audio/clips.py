"""Shared by the audio stages: checked decoding, resampling, the clip manifest.

Decoding goes through soundfile (libsndfile reads WAV, FLAC, OGG/Vorbis and MP3) and never falls
back to audioread, so a bad file fails here with a :class:`DataError` naming it instead of deep
inside a library. :func:`decode` is exactly what ``librosa.load(path, sr=None)`` does on the
soundfile path (float32, channels averaged to mono) and :func:`resample` what ``librosa.load(path,
sr=rate)`` adds (``soxr_hq``), so one decode serves every rate.
"""
from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.io import read_json

log = logging.getLogger(__name__)

SUPPORTED = (".mp3", ".wav", ".ogg", ".flac")
RES_TYPE = "soxr_hq"  # librosa.load's default resampler
# The shortest clip the audio stages take. Shorter clips failed deep inside a library, naming a
# temporary file: ffmpeg cannot encode FLAC from fewer than 16 samples (FLAC's smallest block), and
# a time stretch by rate r leaves len / r samples (a 1-sample clip stretched by 2 is empty).
MIN_SAMPLES = 256


@dataclass(frozen=True)
class Clip:
    """One decoded clip: mono float32 samples at ``sr`` Hz."""

    key: str  # file-system-safe name used for its output folder
    y: np.ndarray  # (n_samples,) float32
    sr: int

    @property
    def seconds(self) -> float:
        return len(self.y) / self.sr


def check_format(path: Path) -> None:
    """Refuse a file whose suffix is not a supported audio format, or that is empty.

    Raises:
        DataError: naming the file and what is wrong.
    """
    if path.suffix.lower() not in SUPPORTED:
        raise DataError(f"{path}: unsupported audio format '{path.suffix or '(no suffix)'}' (supported: {', '.join(SUPPORTED)})")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")


def _not_this_format(path: Path) -> str | None:
    """A message when the file's first bytes are not those of its suffix's format (a text file, an
    image or an archive renamed ``.mp3``), checked before libsndfile, whose error for such a file
    says "File does not exist or is not a regular file" although it exists."""
    with open(path, "rb") as f:
        head = f.read(12)
    suffix = path.suffix.lower()
    if suffix == ".wav":
        ok = head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE"
    elif suffix == ".flac":
        ok = head[:4] == b"fLaC" or head[:3] == b"ID3"
    elif suffix == ".ogg":
        ok = head[:4] == b"OggS"
    else:  # .mp3: an ID3 tag, or an MPEG audio frame sync (11 set bits)
        ok = head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if ok:
        return None
    kind = "text" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "other data"
    return f"not {suffix[1:]} audio: the file exists but its content is {kind} (it starts with {head!r})"


def _wav_truncation(path: Path) -> str | None:
    """For RIFF/WAVE files: a message when the header promises more bytes than the file holds.

    libsndfile silently shortens such a file to what is there; a cut-off download or copy would
    then pass unnoticed.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    (riff_size,) = struct.unpack("<I", head[4:8])
    if riff_size != 0xFFFFFFFF and riff_size + 8 > size:  # 0xFFFFFFFF: streamed, size unknown
        return f"truncated: the WAV header promises {riff_size + 8} bytes, the file holds {size}"
    return None


def _ogg_truncation(path: Path) -> str | None:
    """For Ogg files: a message when the page chain breaks off or ends without an end-of-stream page.

    libsndfile decodes an Ogg file cut at a page boundary without complaint (the frame count comes
    from the last page present), so a cut-off file would pass as a shorter clip. Only the 27-byte
    page headers and lacing tables are read, not the audio.
    """
    size = path.stat().st_size
    pos, last_flags = 0, None
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(27)
            if len(head) < 27 or head[:4] != b"OggS":
                return f"truncated or corrupt: no Ogg page where one should start (byte {pos} of {size})"
            lacing = f.read(head[26])
            if len(lacing) < head[26]:
                return f"truncated: the Ogg page at byte {pos} is cut off"
            pos += 27 + head[26] + sum(lacing)
            last_flags = head[5]
    if pos > size:
        return f"truncated: the last Ogg page needs {pos} bytes, the file holds {size}"
    if last_flags is None or not last_flags & 0x04:
        return "truncated: the Ogg stream has no end-of-stream page"
    return None


def decode(path: str | Path) -> tuple[np.ndarray, int, int]:
    """Decode an audio file at its native rate to mono float32.

    Returns:
        (y, sr, channels): samples ``(n,)``, native rate in Hz, channel count of the file.

    Raises:
        DataError: unsupported suffix, empty, truncated, undecodable, no samples, or non-finite values.
    """
    import soundfile as sf

    path = Path(path)
    check_format(path)
    suffix = path.suffix.lower()
    why = _not_this_format(path)
    if why is None:
        why = _wav_truncation(path) if suffix == ".wav" else _ogg_truncation(path) if suffix == ".ogg" else None
    if why is not None:
        raise DataError(f"{path}: {why}")
    try:
        with sf.SoundFile(path) as f:
            declared, sr, channels = f.frames, f.samplerate, f.channels
            data = f.read(dtype="float32", always_2d=True)  # (n, channels)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        # libsndfile says "File does not exist or is not a regular file" for any content it cannot
        # open; the file does exist here, so keep only what is true
        reason = str(exc).replace(f"Error opening {str(path)!r}: ", "")
        if "does not exist or is not a regular file" in reason:
            reason = "libsndfile recognises no audio stream in it"
        raise DataError(f"{path}: cannot be decoded as {suffix[1:]} audio ({reason})") from None
    if len(data) == 0:
        raise DataError(f"{path}: holds no audio samples")
    if len(data) < MIN_SAMPLES:
        raise DataError(f"{path}: too short: {len(data)} sample(s) ({len(data) / sr:.4f} s at {sr} Hz); the audio "
                        f"stages need at least {MIN_SAMPLES} samples")
    # A compressed stream cut short decodes fewer frames than its header (e.g. MP3's Xing frame count).
    if 0 < declared < 1 << 62 and len(data) < 0.99 * declared:
        raise DataError(f"{path}: truncated: the header promises {declared} frames, only {len(data)} decode")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: holds non-finite samples (NaN or inf)")
    y = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float32)  # = librosa.to_mono
    return np.ascontiguousarray(y), int(sr), int(channels)


def resample(y: np.ndarray, sr: int, target: int | None) -> np.ndarray:
    """``y`` at ``target`` Hz (``None`` or equal rate: ``y`` itself), as ``librosa.load`` resamples."""
    import librosa

    if target is None or target == sr:
        return y
    return librosa.resample(y, orig_sr=sr, target_sr=target, res_type=RES_TYPE)


def clip_key(path: Path, taken: set[str]) -> str:
    """A folder-safe, unique name for a clip: its stem (Unicode kept), suffixed when it clashes."""
    base = re.sub(r"[^\w.-]+", "_", path.stem).strip("._") or "clip"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}_{path.suffix.lower()[1:]}" if n == 2 else f"{base}_{n}"
    taken.add(key)
    return key


def read_manifest(path: str | Path) -> list[dict]:
    """The clip list written by ``audio-download``."""
    manifest = read_json(path)
    clips = manifest.get("clips") if isinstance(manifest, dict) else None
    if not clips:
        raise DataError(f"{path}: field 'clips' is missing or empty")
    return clips


def load_clip(entry: dict, clips_dir: str | Path) -> Clip:
    """Decode one manifest entry's clip (at its native rate)."""
    y, sr, _ = decode(Path(clips_dir) / entry["file"])
    return Clip(entry["key"], y, sr)


def iter_clips(clips_dir: str | Path, manifest: str | Path) -> Iterator[tuple[dict, Clip]]:
    """Decode the clips one at a time (memory bounded by one clip), in manifest order."""
    from tqdm import tqdm

    entries = read_manifest(manifest)
    for entry in tqdm(entries, desc="clips", unit="clip", disable=len(entries) < 2, leave=False):
        yield entry, load_clip(entry, clips_dir)


def power_db(power: np.ndarray, top_db: float) -> np.ndarray:
    """Power to dB relative to the loudest bin, floored at ``-top_db``.

    A silent input (all zeros) has no loudest bin to refer to: it maps to ``-top_db`` everywhere
    instead of dividing by zero.
    """
    import librosa

    peak = float(power.max()) if power.size else 0.0
    if peak <= 0.0:
        return np.full(power.shape, -top_db, dtype=np.float32)
    return librosa.power_to_db(power, ref=peak, top_db=top_db).astype(np.float32, copy=False)


def write_json(path: Path, obj) -> None:
    from stages.core.io import dumps_json

    Path(path).write_text(dumps_json(obj))


def write_float_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """32-bit float WAV (keeps values beyond +-1), byte-identical for identical input.

    scipy rather than soundfile: libsndfile adds a PEAK chunk with a timestamp to float WAVs, so
    the same samples would give a different file (and DVC hash) on every run.
    """
    from scipy.io import wavfile

    wavfile.write(path, sr, np.asarray(y, dtype=np.float32))
