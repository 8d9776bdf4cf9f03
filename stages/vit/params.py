"""Schema of the ``vit:`` section of params.yaml (images, the ViT trained from scratch, the
pretrained ViT fine-tuned, the CNN baseline, the explanation figures).

Values live in params.yaml only: a key missing there is an error naming it. Two shape rules of a
ViT (``vit.model`` and ``vit.finetune.model`` alike) are checked here so that they fail with their
key path before any stage starts: ``num_patch_row`` must divide ``image_size`` (the patches tile
the image), and ``head`` must divide ``emb_dim`` (each head gets D / head dimensions).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from stages.core.params import Params, SourceParams, section_loader
from stages.core.recipe import Recipe
from stages.core.weights import WeightsParams

Fraction = Annotated[float, Field(gt=0, lt=0.5)]


class DataParams(SourceParams):
    """Where the images come from (``source``/``url``/``md5``/``path``, see SourceParams) and how
    they are split. ``embedded``: scikit-learn's digits; ``url``: the CIFAR-10 python tarball (its
    md5 checked before a byte of it is read); ``path``: an ImageFolder (one sub-folder per class)."""

    image_px: int = Field(ge=4, le=512)  # every image is stored at image_px x image_px (resized when it differs)
    val_fraction: Fraction  # of the training pool, stratified
    test_fraction: Fraction  # embedded and path (CIFAR-10 ships its own 10,000-image test batch)
    max_train_per_class: int | None = Field(ge=1)  # cap on training images per class (null: all)


class ModelParams(Params):
    """A ViT's shape (the book's names). ``in_channels`` and ``num_classes`` come from the data."""

    image_size: int = Field(ge=4, le=1024)  # the network's input side; batches are resized to it when the data differ
    num_patch_row: int = Field(ge=1, le=64)  # patches per side: patch size = image_size / num_patch_row
    emb_dim: int = Field(ge=4, le=4096)
    head: int = Field(ge=1, le=64)
    num_blocks: int = Field(ge=1, le=48)
    hidden_dim: int = Field(ge=4, le=16384)  # MLP width
    dropout: float = Field(ge=0, lt=1)
    qkv_bias: bool  # false in the book; true for torchvision's weights
    ln_eps: float = Field(gt=0, le=1e-2)  # 1e-5 (PyTorch's default, the book); 1e-6 for torchvision's weights

    @field_validator("num_patch_row")
    @classmethod
    def _divides_image(cls, v: int, info: ValidationInfo) -> int:
        side = info.data.get("image_size")
        if side is not None and side % v:
            raise ValueError(f"must divide image_size {side} (patch size = image_size / num_patch_row); "
                             f"got {v}, which leaves a remainder of {side % v} pixels")
        return v

    @field_validator("head")
    @classmethod
    def _divides_emb(cls, v: int, info: ValidationInfo) -> int:
        emb = info.data.get("emb_dim")
        if emb is not None and emb % v:
            raise ValueError(f"must divide emb_dim {emb} (each head gets emb_dim / head dimensions); got {v}")
        return v


class OptimParams(Recipe):
    """The classifiers' recipe (AdamW, a linear warm-up then a cosine decay to zero per update, clipping)
    and their label smoothing."""

    label_smoothing: float = Field(ge=0, lt=1)


class FinetuneTrainParams(OptimParams):
    backbone_lr_scale: float = Field(gt=0, le=1)  # the backbone trains at lr x this, the new head at lr


class FinetuneParams(Params):
    """``vit-finetune``: pretrained weights of the architecture ``model`` (torchvision's ViT-B/16 in
    the course), a new head for the data's classes, trained by ``train``. ``weights.source: none``
    (the offline default: no weights can be fetched) leaves the stage with nothing to fine-tune: it
    records that and writes no model, and ``vit-evaluate`` reports the from-scratch ViT and the CNN."""

    model: ModelParams
    weights: WeightsParams
    train: FinetuneTrainParams


class CnnParams(OptimParams):
    channels: int = Field(ge=4, le=256)  # widths c, 2c, 4c


class ExplainParams(Params):
    images: int = Field(ge=1, le=64)  # test images shown with their rollout
    residual: float = Field(ge=0, le=1)  # the skip connection's share in each layer (0.5 in Abnar & Zuidema)


class VitParams(Params):
    data: DataParams
    model: ModelParams  # vit-train: the ViT from scratch
    train: OptimParams
    finetune: FinetuneParams
    cnn: CnnParams
    explain: ExplainParams


load = section_loader(VitParams)
