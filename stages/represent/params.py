"""Schema of the ``represent:`` section of params.yaml (the views, the encoder, the four ways of
training it, the probe).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stages.core.params import AsTuple, Params, SourceParams, section_loader
from stages.core.recipe import Recipe

Seeds = Annotated[int, Field(ge=1, le=20)]  # runs per method, seeds common.seed, common.seed + 1, …


class TransformParams(Params):
    """One random affine transform and noise per view: rotation in ±``degrees``, isotropic scale in
    ``scale``, horizontal shear in ±``shear``, shift in ±``shift_px`` on each axis (output pixels),
    then integer noise uniform in ±``noise`` grey levels."""

    degrees: float = Field(ge=0, le=180)
    scale: Annotated[tuple[float, float], AsTuple]
    shear: float = Field(ge=0, le=1)
    shift_px: float = Field(ge=0, le=64)
    noise: int = Field(ge=0, le=127)

    @field_validator("scale")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1] <= 4:
            raise ValueError(f"scale must be [low, high] with 0 < low <= high <= 4: got {list(v)}")
        return v


class ViewsParams(SourceParams):
    """``embedded``: scikit-learn's 1,797 8x8 digits, split here; ``url``: STL-10's binary tarball
    (its md5 checked; its own labelled train and test splits). ``path`` is not a source of this pipeline."""

    source: Literal["embedded", "url"]
    test_fraction: float = Field(gt=0, lt=0.5)  # embedded only, stratified, seeded by common.seed
    max_train_per_class: int | None = Field(ge=2)  # cap on training images per class (null: all)
    image_px: int = Field(ge=8, le=256)  # side of every view
    views_per_image: int = Field(ge=2, le=64)  # cached views of each training image (SimCLR needs 2)
    transform: TransformParams


class EncoderParams(Params):
    """The one encoder every method trains: ``cnn`` (three conv blocks of ``width``, 2x``width`` and
    4x``width`` channels, global average pool) or ``resnet18`` (torchvision's, ``width`` unused); its
    representation then goes through a two-layer projection head to a ``dim``-d embedding."""

    arch: Literal["cnn", "resnet18"]
    width: int = Field(ge=1, le=512)
    dim: int = Field(ge=2, le=4096)


class ContrastiveParams(Recipe):
    """Hadsell, Chopra & LeCun (2006) over every pair of a batch: same class pulled together, other
    classes pushed apart to ``margin`` (embeddings on the unit sphere: distances in [0, 2])."""

    margin: float = Field(ge=0, le=2)


class TripletParams(Recipe):
    """Schroff, Kalenichenko & Philbin (2015, FaceNet): every (anchor, positive) pair of a batch with
    a ``semihard`` negative (farther than the positive, within the margin), the ``hardest`` one, or
    ``all`` valid triplets averaged."""

    margin: float = Field(ge=0, le=2)
    mining: Literal["semihard", "hardest", "all"]


class SimclrParams(Recipe):
    """Chen et al. (2020): NT-Xent over two views of each image of a batch, no labels."""

    temperature: float = Field(gt=0, le=10)


class SupervisedParams(Recipe):
    """The reference: the same encoder with a linear classifier on its embedding, cross-entropy."""


class ProbeParams(Params):
    """``represent-probe``: retrieval in each embedding and a linear probe on each representation."""

    label_fractions: list[float] = Field(min_length=1, max_length=10)  # of the training labels, per class
    subsets: int = Field(ge=1, le=100)  # random label subsets averaged at each fraction below 1
    views_per_image: int = Field(ge=1, le=64)  # views of each labelled training image the probe is fitted on
    tsne_perplexity: float = Field(ge=2, le=100)

    @field_validator("label_fractions")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not 0 < f <= 1]
        if bad:
            raise ValueError(f"each label fraction must be in (0, 1]: got {bad}")
        return sorted(set(v))


class RepresentParams(Params):
    views: ViewsParams
    encoder: EncoderParams
    seeds: Seeds
    contrastive: ContrastiveParams
    triplet: TripletParams
    simclr: SimclrParams
    supervised: SupervisedParams
    probe: ProbeParams


load = section_loader(RepresentParams)
