"""Schema of the ``gan:`` section of params.yaml (digits data, DCGAN, Self-Attention GAN).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import Params, PowerOfTwo, RemoteFile, section_loader
from stages.core.recipe import Recipe, need_networks

Digit = Annotated[int, Field(ge=0, le=9)]


class DigitsParams(Params):
    """Which handwritten digits, from where, at what size; the anomaly test set is built here too."""

    source: Literal["embedded", "url", "path"]  # embedded: scikit-learn's 8x8 digits; url: MNIST idx .gz
    images: RemoteFile  # idx3 images file (url source)
    labels: RemoteFile  # idx1 labels file (url source)
    path: list[str]  # path source: [images idx file, labels idx file] (.gz or raw)
    image_px: PowerOfTwo(16, 128)  # side of the square output images in pixels (not `size`:
    # DVC's run-cache ignores params named so, treeverse/dvc#10296)
    normal: list[Digit] = Field(min_length=1, max_length=10)  # the digits the GANs learn (the "normal" class)
    train_per_class: int = Field(ge=1, le=10000)  # MNIST has about 6,000 per digit
    anomalous: list[Digit] = Field(min_length=1, max_length=10)  # digits that only appear in the anomaly test set
    test_per_class: int = Field(ge=1, le=10000)  # held-out test images per normal digit
    anomalous_per_class: int = Field(ge=1, le=10000)  # test images per anomalous digit

    @model_validator(mode="after")
    def _check(self) -> "DigitsParams":
        if set(self.normal) & set(self.anomalous):
            raise ValueError(f"a digit cannot be both normal and anomalous (got {sorted(set(self.normal) & set(self.anomalous))})")
        if self.source == "path" and len(self.path) != 2:
            raise ValueError("source is 'path' but path is not [images idx file, labels idx file]")
        return self


class GanTrainParams(Recipe):
    """One GAN's network width and its training recipe (``lr``: one per network, ``g`` and ``d``)."""

    # Bounds keep one training stage inside a 2-core, 24 GiB machine: at 128 px and channels 128 the
    # widest convolution holds 128*16 x 128*8 x 4 x 4 weights (134 MB; x4 with its gradient and Adam state).
    z_dim: int = Field(ge=1, le=1024)
    channels: int = Field(ge=8, le=128)  # width of the widest-resolution hidden layer; doubles per layer towards 4x4

    @model_validator(mode="after")
    def _both_networks(self) -> "GanTrainParams":
        need_networks(self, ("g", "d"))
        return self


# SAGAN's attention maps are (B, N, N) with N = (image_px/2)^2 positions at its last hidden layer:
# 16.7 M floats per image at 128 px. Forward, backward and the discriminator's copy hold about 4 of them.
ATTENTION_BUDGET_BYTES = 8 * 2**30


def attention_bytes(image_px: int, batch_size: int) -> int:
    """Rough peak bytes of SAGAN's attention maps (both layers, float32, ~4 live copies) for one batch."""
    n_last, n_prev = (image_px // 2) ** 2, (image_px // 4) ** 2
    return 4 * 4 * batch_size * (n_last ** 2 + n_prev ** 2)


class GanParams(Params):
    digits: DigitsParams
    dcgan: GanTrainParams
    sagan: GanTrainParams

    @model_validator(mode="after")
    def _attention_fits(self) -> "GanParams":
        need = attention_bytes(self.digits.image_px, self.sagan.batch_size)
        if need > ATTENTION_BUDGET_BYTES:
            raise ValueError(
                f"sagan.batch_size {self.sagan.batch_size} at digits.image_px {self.digits.image_px} needs about "
                f"{need / 2**30:.0f} GiB for the attention maps (limit {ATTENTION_BUDGET_BYTES / 2**30:.0f} GiB): "
                "lower the batch size or the image side")
        return self


load = section_loader(GanParams)
