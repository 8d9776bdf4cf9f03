"""Schema of the ``anomaly:`` section of params.yaml (AnoGAN search, Efficient GAN, the score).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback. The test set and the DCGAN that AnoGAN reuses come from the
``gan:`` pipeline (``gan.digits``, ``gan.dcgan``).
"""
from __future__ import annotations

from pydantic import Field, model_validator

from stages.core.params import Params, section_loader
from stages.core.recipe import Recipe, need_networks


class ScoreParams(Params):
    lam: float = Field(ge=0, le=1)  # weight of the discrimination loss; the residual gets 1 - lam


class AnoGanParams(Params):
    steps: int = Field(ge=1, le=100000)  # gradient steps of the z search per test image (course: 5000)
    lr: float = Field(gt=0, le=10)  # Adam learning rate of the z search


class EfficientGanParams(Recipe):
    """The Efficient GAN's widths and its training recipe (``lr``: one per network, ``g``, ``e``, ``d``)."""

    z_dim: int = Field(ge=1, le=1024)
    # conv width; the dense layers are 16x and 8x this (1024 and 512 at 64). The generator's second
    # dense layer holds 16c x 2c(S/4)^2 weights: 134 M at c=64, S=128 (2 GiB with gradient and Adam
    # state), so 64 is the most a 24 GiB machine takes at every image side.
    channels: int = Field(ge=8, le=64)

    @model_validator(mode="after")
    def _three_networks(self) -> "EfficientGanParams":
        need_networks(self, ("g", "e", "d"))
        return self


class AnomalyParams(Params):
    score: ScoreParams
    anogan: AnoGanParams
    efficientgan: EfficientGanParams


load = section_loader(AnomalyParams)
