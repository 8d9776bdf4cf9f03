"""Schema of the ``audio:`` section of params.yaml.

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.parallel import Parallel
from stages.core.params import Params, SourceParams, section_loader

Rate = Annotated[int, Field(ge=1000, le=384000)]  # a sample rate in Hz
# Effects bounds: a 1,000-semitone shift resamples by 2^83 and a stretch rate of 0.0001 makes a clip
# 10,000 times longer, either far beyond memory. Two octaves and a factor of 4 either way are plenty.
Semitones = Annotated[float, Field(ge=-24, le=24)]
StretchRate = Annotated[float, Field(ge=0.25, le=4)]


class EmbeddedParams(Params):
    sr: Rate  # rate of the generated clips
    seconds: float = Field(gt=0, le=60)  # length of each generated clip


class DownloadParams(SourceParams):
    embedded: EmbeddedParams


class DecodeParams(Params):
    rates: list[Rate] = Field(min_length=1, max_length=8)  # resampling rates shown beside the native one
    cut_seconds: float = Field(gt=0, le=3600)  # the course's "first 1 s" cut
    parallel: Parallel  # none | local (Dask LocalCluster) | a Dask scheduler address; same outputs


class FeaturesParams(Params):
    sr: Rate | None  # rate of RMS/STFT/mel (and the second FFT); null = native
    # The STFT holds (n_fft/2 + 1) x (samples / hop_length) complex64 values: n_fft up to 2^16 and a hop of
    # at least n_fft/16 keep it within 8 bytes x 8 per sample of the clip (a 10-minute 44.1 kHz clip: 1.7 GB).
    n_fft: int = Field(ge=16, le=65536)
    hop_length: int = Field(ge=1)
    n_mels: int = Field(ge=1, le=512)
    top_db: float = Field(gt=0, le=200)  # dB floor below the loudest bin
    parallel: Parallel  # none | local (Dask LocalCluster) | a Dask scheduler address; same outputs

    @model_validator(mode="after")
    def _hop(self) -> "FeaturesParams":
        if not self.n_fft // 16 <= self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be from n_fft/16 to n_fft ({self.n_fft // 16}..{self.n_fft}; "
                             f"got {self.hop_length})")
        return self


class ConvertParams(Params):
    wav_subtype: Literal["PCM_16", "PCM_24", "PCM_32"]  # soundfile subtype of the WAV copy (pydub reads PCM only)
    mp3_bitrate: str = Field(pattern=r"^\d+k$")  # e.g. 128k


class EffectsParams(Params):
    sr: Rate | None  # rate the effects run at; null = native
    pitch_steps: list[Semitones] = Field(max_length=16)  # semitones
    stretch_rates: list[StretchRate] = Field(max_length=16)  # >1 faster/shorter, <1 slower/longer
    vtln_alpha: list[Annotated[float, Field(ge=0.5, le=2.0)]] = Field(max_length=16)  # frequency warping factors (>1 raises formants)
    vtln_cutoff: float = Field(gt=0, lt=1)  # knee of the piecewise-linear warp, fraction of Nyquist
    clip_threshold: list[Annotated[float, Field(gt=0, le=1)]] = Field(max_length=16)  # clipping level as a fraction of the clip's peak |x|
    parallel: Parallel  # none | local (Dask LocalCluster) | a Dask scheduler address; same outputs


class AudioParams(Params):
    download: DownloadParams
    decode: DecodeParams
    features: FeaturesParams
    convert: ConvertParams
    effects: EffectsParams


load = section_loader(AudioParams)
