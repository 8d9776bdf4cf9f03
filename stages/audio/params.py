"""Schema of the ``audio:`` section of params.yaml.

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stages.core.params import Params, SourceParams, load_section

Rate = Annotated[int, Field(ge=1000, le=384000)]  # a sample rate in Hz
Positive = Annotated[float, Field(gt=0)]


class EmbeddedParams(Params):
    sr: Rate  # rate of the generated clips
    seconds: float = Field(gt=0, le=60)  # length of each generated clip


class DownloadParams(SourceParams):
    embedded: EmbeddedParams


class DecodeParams(Params):
    rates: list[Rate] = Field(min_length=1)  # resampling rates shown beside the native one
    cut_seconds: float = Field(gt=0)  # the course's "first 1 s" cut


class FeaturesParams(Params):
    sr: Rate | None  # rate of RMS/STFT/mel (and the second FFT); null = native
    n_fft: int = Field(ge=16)
    hop_length: int = Field(ge=1)
    n_mels: int = Field(ge=1)
    top_db: float = Field(gt=0)  # dB floor below the loudest bin


class ConvertParams(Params):
    wav_subtype: Literal["PCM_16", "PCM_24", "PCM_32"]  # soundfile subtype of the WAV copy (pydub reads PCM only)
    mp3_bitrate: str = Field(pattern=r"^\d+k$")  # e.g. 128k


class EffectsParams(Params):
    sr: Rate | None  # rate the effects run at; null = native
    pitch_steps: list[float]  # semitones
    stretch_rates: list[Positive]  # >1 faster/shorter, <1 slower/longer
    vtln_alpha: list[Annotated[float, Field(ge=0.5, le=2.0)]]  # frequency warping factors (>1 raises formants)
    vtln_cutoff: float = Field(gt=0, lt=1)  # knee of the piecewise-linear warp, fraction of Nyquist
    clip_threshold: list[Annotated[float, Field(gt=0, le=1)]]  # clipping level as a fraction of the clip's peak |x|


class AudioParams(Params):
    download: DownloadParams
    decode: DecodeParams
    features: FeaturesParams
    convert: ConvertParams
    effects: EffectsParams


def load() -> AudioParams:
    return load_section("audio", AudioParams)
