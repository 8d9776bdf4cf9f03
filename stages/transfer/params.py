"""Schema of the ``transfer:`` section of params.yaml (course 2-1: transfer learning and fine-tuning).

No defaults here on purpose: params.yaml is the one place values live.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import AsTuple, Params, SourceParams, section_loader
from stages.core.recipe import Recipe
from stages.core.weights import WeightsParams

Digit = Annotated[int, Field(ge=0, le=9)]
LR = Annotated[float, Field(gt=0, le=10)]
Triple = Annotated[tuple[float, float, float], AsTuple]


class ModelParams(Params):
    """The network every training stage builds (pretrain, scratch, transfer, fine-tune)."""

    arch: Literal["vgg_small", "vgg11", "vgg16", "mobilenet_v3_small"]
    width: int = Field(ge=4, le=128)  # vgg_small: channels of the first block (doubled per block)
    hidden: int = Field(ge=8, le=4096)  # vgg_small: units of the classifier's hidden layers


class TransformParams(Params):
    """The course's ImageTransform: random resized crop (+ flip) for training, resize + centre crop for validation."""

    image_px: int = Field(ge=8, le=512)  # side of the network's input (the book: 224)
    resize_px: int = Field(ge=8, le=1024)  # validation: resize the shorter side to this, then centre-crop image_px
    crop_scale: Annotated[tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)]], AsTuple]
    hflip: bool  # random horizontal flip in training (not for digits: a mirrored digit is another shape)
    mean: Triple
    std: Triple

    @model_validator(mode="after")
    def _check(self) -> "TransformParams":
        if self.crop_scale[0] > self.crop_scale[1]:
            raise ValueError(f"crop_scale must be [low, high] with low <= high (got {list(self.crop_scale)})")
        if self.resize_px < self.image_px:
            raise ValueError(f"resize_px ({self.resize_px}) must be >= image_px ({self.image_px}) for the centre crop")
        if min(self.std) <= 0:
            raise ValueError(f"std must be > 0 (got {list(self.std)})")
        return self


class DataParams(SourceParams):
    """The target task. ``embedded``: scikit-learn's digits ``digits``; ``path``: one folder in
    ImageFolder layout (``train/<class>/*``, ``val/<class>/*``); ``url``: a zip of that layout."""

    digits: list[Digit] = Field(min_length=2, max_length=10)  # embedded: the target classes
    train_per_class: int | None = Field(ge=1, le=100000)  # labelled images per class (k); null: all (path/url)
    val_per_class: int | None = Field(ge=1, le=100000)  # validation images per class; null: all (path/url)

    @model_validator(mode="after")
    def _check_data(self) -> "DataParams":
        if self.source == "path" and len(self.path) != 1:
            raise ValueError("source is 'path': path must list exactly one folder (holding train/ and val/)")
        if self.source == "embedded" and (self.train_per_class is None or self.val_per_class is None):
            raise ValueError("source is 'embedded': set train_per_class and val_per_class")
        return self


class PretrainParams(Recipe):
    """The backbone: pretrained here on the source digits (``weights.source: none``) by this recipe,
    or pretrained weights fetched by URL / read from a file, verified (``url`` / ``path``)."""

    weights: WeightsParams
    digits: list[Digit] = Field(min_length=2, max_length=10)  # the source task's classes
    train_per_class: int = Field(ge=1, le=1000)
    val_per_class: int = Field(ge=1, le=1000)


class TrainParams(Recipe):
    """The recipe of the three target runs (scratch, transfer, fine-tune): same split, epochs and
    batches. ``lr`` is one per run: ``scratch`` (every layer) and ``transfer`` (the groups it trains);
    fine-tuning's per-group rates are ``transfer.finetune``."""

    transfer_trains: list[Literal["hidden", "head"]] = Field(min_length=1, max_length=2)  # the book: [head]

    @model_validator(mode="after")
    def _head(self) -> "TrainParams":
        if "head" not in self.transfer_trains:
            raise ValueError(f"transfer_trains must include head, the new layer (got {self.transfer_trains})")
        if not isinstance(self.lr, dict) or set(self.lr) != {"scratch", "transfer"}:
            raise ValueError(f"lr is one per run, {{scratch: ..., transfer: ...}} (got {self.lr})")
        return self


class FinetuneParams(Params):
    """Fine-tuning: every layer trains, one learning rate per group (the book: 1e-4, 5e-4, 1e-3)."""

    lr_features: LR
    lr_hidden: LR  # classifier.0 and classifier.3
    lr_head: LR  # classifier.6


class ExplainParams(Params):
    per_kind: int = Field(ge=1, le=32)  # Grad-CAM figure: this many correct and this many wrong predictions


class TransferParams(Params):
    model: ModelParams
    transform: TransformParams
    data: DataParams
    pretrain: PretrainParams
    train: TrainParams
    finetune: FinetuneParams
    explain: ExplainParams

    @model_validator(mode="after")
    def _disjoint(self) -> "TransferParams":
        if self.data.source == "embedded" and self.pretrain.weights.source == "none":
            both = sorted(set(self.data.digits) & set(self.pretrain.digits))
            if both:
                raise ValueError(f"data.digits and pretrain.digits share {both}: the target task must be new to the backbone")
        return self


load = section_loader(TransferParams)
