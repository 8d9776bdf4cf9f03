"""Schema of the ``gan:`` section of params.yaml (digits data, DCGAN, Self-Attention GAN).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stages.core.params import Params, load_section


class RemoteFile(Params):
    url: str
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError(f"not a 64-digit hex sha256 digest (got {v!r})")
        return v


class DigitsParams(Params):
    """Which handwritten digits, from where, at what size; the anomaly test set is built here too."""

    source: Literal["embedded", "url", "path"]  # embedded: scikit-learn's 8x8 digits; url: MNIST idx .gz
    images: RemoteFile  # idx3 images file (url source)
    labels: RemoteFile  # idx1 labels file (url source)
    path: list[str]  # path source: [images idx file, labels idx file] (.gz or raw)
    size: int  # output side in pixels: a power of two, 16..128
    normal: list[int] = Field(min_length=1)  # the digits the GANs learn (the "normal" class)
    train_per_class: int = Field(ge=1)
    anomalous: list[int] = Field(min_length=1)  # digits that only appear in the anomaly test set
    test_per_class: int = Field(ge=1)  # held-out test images per normal digit
    anomalous_per_class: int = Field(ge=1)  # test images per anomalous digit

    @field_validator("size")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v < 16 or v > 128 or v & (v - 1):
            raise ValueError(f"must be a power of two from 16 to 128 (got {v})")
        return v

    @model_validator(mode="after")
    def _check(self) -> "DigitsParams":
        for d in [*self.normal, *self.anomalous]:
            if not 0 <= d <= 9:
                raise ValueError(f"digits are 0..9 (got {d})")
        if set(self.normal) & set(self.anomalous):
            raise ValueError(f"a digit cannot be both normal and anomalous (got {sorted(set(self.normal) & set(self.anomalous))})")
        if self.source == "path" and len(self.path) != 2:
            raise ValueError("source is 'path' but path is not [images idx file, labels idx file]")
        return self


class GanTrainParams(Params):
    """One GAN's network width and optimisation."""

    z_dim: int = Field(ge=1)
    channels: int = Field(ge=8)  # width of the widest-resolution hidden layer; doubles per layer towards 4x4
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=2)
    lr_g: float = Field(gt=0)
    lr_d: float = Field(gt=0)
    betas: tuple[float, float]
    amp: bool  # float16 mixed precision when training on CUDA (ignored on CPU)
    checkpoint_every: int = Field(ge=1)  # epochs between resume checkpoints


class GanParams(Params):
    digits: DigitsParams
    dcgan: GanTrainParams
    sagan: GanTrainParams


def load() -> GanParams:
    return load_section("gan", GanParams)
