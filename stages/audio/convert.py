"""Stage `audio-convert`: WAV, FLAC and MP3 copies of each clip and their sizes (course knock 80, Q.7).

Per clip: the native-rate signal written as WAV with soundfile (``audio.convert.wav_subtype``),
reloaded and compared with the original (max abs error: the quantisation of the subtype); the WAV
read by pydub's ``AudioSegment`` and exported as FLAC and as MP3 (``mp3_bitrate``). pydub runs the
ffmpeg binary that the imageio-ffmpeg package ships; that build has no ffprobe, so the codec and
format are always passed explicitly. Sizes and compression ratios (size / WAV size) are the metrics.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from stages.core.errors import StageError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.audio import params
from stages.audio.clips import decode, iter_clips
from stages.audio.params import ConvertParams

log = logging.getLogger(__name__)

CODECS = {"flac": "flac", "mp3": "libmp3lame"}  # pydub format -> ffmpeg encoder


def audio_segment():
    """pydub's ``AudioSegment`` wired to imageio-ffmpeg's ffmpeg (pydub warns at import when none is on PATH)."""
    import imageio_ffmpeg

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ff", category=RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = imageio_ffmpeg.get_ffmpeg_exe()
    return AudioSegment


def write_wav(path: Path, y: np.ndarray, sr: int, subtype: str) -> float:
    """Write ``y`` as WAV, reload it, and return the max abs difference to ``y``."""
    import soundfile as sf

    sf.write(path, y, sr, subtype=subtype, format="WAV")
    back, rate = sf.read(path, dtype="float32")
    if rate != sr or back.shape != y.shape:
        raise StageError(f"{path}: reloaded WAV differs in rate or shape ({rate} Hz {back.shape} vs {sr} Hz {y.shape})")
    return float(np.abs(back - y).max())


def export(wav: Path, target: Path, fmt: str, bitrate: str | None = None, source: str | None = None) -> None:
    """Convert a PCM WAV file to ``fmt`` (flac or mp3) with pydub + ffmpeg.

    Args:
        wav: the PCM WAV to convert (a file inside the stage's temporary folder).
        target: where the ``fmt`` file goes.
        fmt: ``flac`` or ``mp3``.
        bitrate: ffmpeg bitrate (mp3), e.g. ``128k``.
        source: the clip's input file, named in the message (default: ``wav``).

    Raises:
        StageError: ffmpeg failed (its message is kept), naming ``source``.
    """
    segment = audio_segment().from_wav(wav)  # pure Python: needs no ffprobe
    from pydub.exceptions import CouldntEncodeError  # (after audio_segment(): pydub warns on first import)

    try:
        segment.export(target, format=fmt, codec=CODECS[fmt], bitrate=bitrate).close()
    except CouldntEncodeError as exc:
        raise StageError(f"{source or wav}: ffmpeg could not encode {fmt}: {str(exc).splitlines()[-1]}") from None


def ratios(sizes: dict[str, int]) -> dict[str, float]:
    """Each size divided by the WAV size (< 1: smaller than WAV).

    Raises:
        ValueError: the WAV size is not positive.
    """
    if sizes.get("wav", 0) <= 0:
        raise ValueError(f"the WAV size must be positive to compare against, got {sizes.get('wav')}")
    return {fmt: size / sizes["wav"] for fmt, size in sizes.items() if fmt != "wav"}


def main(stage: Declared) -> None:
    convert_params: ConvertParams = params.load().convert
    metrics: dict[str, dict] = {}
    with stage.outputs() as out:
        root = out.dir(stage.out("files"))
        for entry, clip in iter_clips(stage.dep("clips"), stage.dep("manifest.json")):
            wav = root / f"{clip.key}.wav"
            wav_error = write_wav(wav, clip.y, clip.sr, convert_params.wav_subtype)
            source = entry.get("source", entry["file"])  # the user's file, not the temporary WAV
            export(wav, root / f"{clip.key}.flac", "flac", source=source)
            export(wav, root / f"{clip.key}.mp3", "mp3", convert_params.mp3_bitrate, source=source)
            flac, _, _ = decode(root / f"{clip.key}.flac")
            wav_back, _, _ = decode(wav)
            sizes = {fmt: (root / f"{clip.key}.{fmt}").stat().st_size for fmt in ("wav", "flac", "mp3")}
            metrics[clip.key] = {
                "source_bytes": (stage.dep("clips") / entry["file"]).stat().st_size,
                "bytes": sizes,
                "ratio_to_wav": ratios(sizes),
                "wav_max_error": wav_error,  # quantisation of the WAV subtype
                "flac_max_error_vs_wav": float(np.abs(flac - wav_back).max()) if flac.shape == wav_back.shape else None,
            }
            log.info("%s: wav %d B, flac %.2f x, mp3 %.2f x; WAV max error %.2e", clip.key, sizes["wav"],
                     metrics[clip.key]["ratio_to_wav"]["flac"], metrics[clip.key]["ratio_to_wav"]["mp3"], wav_error)
        out.json(stage.out("metrics.json"), {"clips": metrics, "wav_subtype": convert_params.wav_subtype,
                                              "mp3_bitrate": convert_params.mp3_bitrate})


if __name__ == "__main__":
    run_stage(main)
