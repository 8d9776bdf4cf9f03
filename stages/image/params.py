"""Schema of the ``image:`` section of params.yaml.

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stages.core.parallel import Parallel
from stages.core.params import AsTuple, Params, Seed, SourceParams, section_loader

Pixel = Annotated[int, Field(ge=0, le=65535)]  # a coordinate; larger than any photo cv2 decodes
Box = Annotated[tuple[Pixel, Pixel, Pixel, Pixel], AsTuple]  # (x0, y0, x1, y1)
# A resize factor. Up to 4: a 12-megapixel phone photo at 4x is 576 MB per copy, and the stage holds a
# few copies per interpolation; from 0.01, which still leaves the sample photos several pixels wide.
Scale = Annotated[float, Field(ge=0.01, le=4)]
Interpolation = Literal["nearest", "linear", "cubic", "area", "lanczos4", "linear_exact", "nearest_exact"]


class DecodeParams(SourceParams):
    """Where the photos come from (``embedded``: scikit-learn's sample photos) and how to store them."""

    png_compression: int = Field(ge=0, le=9)  # cv2.IMWRITE_PNG_COMPRESSION of the decoded copies
    parallel: Parallel  # none | local (Dask LocalCluster) | a Dask scheduler address; same outputs


class InspectParams(Params):
    bins: int = Field(ge=2, le=256)  # cv2.calcHist bins over [0, 256)


class TransformsParams(Params):
    crop: Box  # (x0, y0, x1, y1): top-left and bottom-right corners, in pixels
    scales: list[Scale] = Field(max_length=8)  # resize factors (< 1 down, > 1 up), each compared over every interpolation
    interpolations: list[Interpolation] = Field(max_length=7)
    zoom: int = Field(ge=8, le=1024)  # side (px) of the centre patch shown enlarged in the comparison figure
    angle: float = Field(ge=-360, le=360)  # rotation in degrees, counter-clockwise about the centre (finite)
    threshold: int = Field(ge=0, le=255)  # fixed binarisation threshold (Otsu picks its own)
    blur_kernel: int = Field(ge=1, le=255)  # cv2.blur box size
    text: str = Field(max_length=200)
    rectangle: Box  # (x0, y0, x1, y1), drawn clipped to the image
    factor: float = Field(gt=0, le=255)  # the `img * factor` dtype pitfall

    @field_validator("interpolations")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one interpolation")
        return v

    @field_validator("scales")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("list at least one resize factor")
        return v


class ScrambleParams(Params):
    key: Seed  # the secret: the seed of every permutation; the inverse needs it
    block_size: int = Field(ge=1, le=4096)  # square blocks of block_size × block_size pixels
    negative_positive: bool  # colour scrambling also inverts (255 - x) a keyed half of the blocks
    rotate_flip: bool  # block scrambling also rotates / flips each block


class YCbCrParams(Params):
    coefficients: list[list[float]]  # 3×3, rows Y, Cb, Cr over columns R, G, B
    chunk_pixels: int = Field(ge=1, le=2**24)  # pixels per matrix multiply (keeps the float temporaries in cache)

    @field_validator("coefficients")
    @classmethod
    def _three_by_three(cls, v: list[list[float]]) -> list[list[float]]:
        if len(v) != 3 or any(len(row) != 3 for row in v):
            raise ValueError(f"must be a 3×3 matrix (rows Y, Cb, Cr; columns R, G, B), got {v}")
        return v


class ImageParams(Params):
    decode: DecodeParams
    inspect: InspectParams
    transforms: TransformsParams
    scramble: ScrambleParams
    ycbcr: YCbCrParams


load = section_loader(ImageParams)
