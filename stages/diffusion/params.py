"""Schema of the ``diffusion:`` section of params.yaml (data, judge, DDPM training, samplers, evaluation).

No defaults here on purpose: params.yaml is the one place values live. Checks that span sub-sections
(a DDIM step count against the trained T) live on :class:`DiffusionParams` and name the full key path.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import AsTuple, Params, PowerOfTwo, RemoteFile, section_loader
from stages.core.recipe import Recipe


class DataParams(Params):
    """Which images, from where, at what size, and how many per class are held out.

    ``dataset: digits`` reads the digits with :mod:`stages.core.digits`, as the gan pipeline does (embedded: scikit-learn's 8x8 scans;
    url: MNIST idx files; path: your idx pair); ``dataset: cifar10`` reads CIFAR-10's python archive
    (url, or path to the downloaded ``cifar-10-python.tar.gz``).
    """

    dataset: Literal["digits", "cifar10"]
    source: Literal["embedded", "url", "path"]
    mnist_images: RemoteFile
    mnist_labels: RemoteFile
    cifar10: RemoteFile  # CIFAR-10's python archive: its site publishes an md5 only
    path: list[str]
    image_px: PowerOfTwo(8, 64)  # side of the square images (not `size`: DVC's run-cache ignores params named so)
    heldout_per_class: int = Field(ge=2, le=10000)  # real images per class kept out of training: the FID floor
    train_per_class: int = Field(ge=0, le=100000)  # 0: every image not held out

    @model_validator(mode="after")
    def _check(self) -> "DataParams":
        if self.dataset == "cifar10" and self.source == "embedded":
            raise ValueError("dataset cifar10 has no embedded source: use source url (or path to the archive)")
        if self.source == "path" and len(self.path) != (2 if self.dataset == "digits" else 1):
            raise ValueError("source is 'path' but path is not [images idx, labels idx] (digits) or [archive] (cifar10)")
        return self


class JudgeParams(Recipe):
    """The digits (or CIFAR-10) classifier whose features are FID's feature space, and its recipe."""

    channels: int = Field(ge=4, le=256)  # width of the first convolution (doubles twice)
    features: int = Field(ge=2, le=512)  # width of the penultimate layer: the FID features


class TrainParams(Recipe):
    """DDPM: the β schedule, the U-Net (as in the DDIM code's config) and its training recipe (an EMA
    of the weights, a linear LR warm-up, clipping)."""

    timesteps: int = Field(ge=2, le=10000)  # T
    schedule: Literal["linear", "cosine"]  # β: linear (Ho et al., beta_1 → beta_T) | cosine (Nichol & Dhariwal)
    beta_1: float = Field(gt=0, lt=1)  # the linear schedule's ends (unused by cosine)
    beta_T: float = Field(gt=0, lt=1)
    ch: int = Field(ge=4, le=512)
    ch_mult: Annotated[tuple[Annotated[int, Field(ge=1, le=16)], ...], AsTuple] = Field(min_length=1, max_length=6)
    num_res_blocks: int = Field(ge=1, le=8)
    attn_resolutions: Annotated[tuple[Annotated[int, Field(ge=1, le=64)], ...], AsTuple] = Field(max_length=6)
    dropout: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _increasing(self) -> "TrainParams":
        if not self.beta_1 < self.beta_T:
            raise ValueError(f"the β schedule must increase: beta_1 {self.beta_1} must be below beta_T {self.beta_T}")
        return self


class DdimSetting(Params):
    steps: int = Field(ge=1)  # S
    eta: float = Field(ge=0, le=1)  # η: 0 deterministic, 1 DDPM-like; above 1 the DDIM variance c2² would go negative
    skip: Literal["uniform", "quadratic"]


class SampleParams(Params):
    """The samplers run from one trained network: DDPM over all T steps, and each DDIM setting."""

    n_samples: int = Field(ge=2, le=100000)  # images per sampler (all samplers start from the same x_T)
    batch_size: int = Field(ge=1, le=100000)
    variance: Literal["fixed_small", "fixed_large"]  # σ_t² = β̃_t or β_t in Algorithm 2
    clip_x0: bool  # clip the predicted x̂_0 to [-1, 1] at every step (Ho et al.'s code, diffusers' default)
    ddpm: bool  # run Algorithm 2 over all T steps (slow: T evaluations per image)
    ddim: list[DdimSetting] = Field(max_length=32)
    strip_steps: int = Field(ge=2, le=32)  # columns of the forward and reverse strips

    @model_validator(mode="after")
    def _some_sampler(self) -> "SampleParams":
        if not self.ddpm and not self.ddim:
            raise ValueError("no sampler to run: set diffusion.sample.ddpm to true or list a setting under diffusion.sample.ddim")
        return self


class EvaluateParams(Params):
    confidence: float = Field(gt=0, lt=1)  # a sample is "valid" when the judge's top probability reaches this


class DiffusionParams(Params):
    data: DataParams
    judge: JudgeParams
    train: TrainParams
    sample: SampleParams
    evaluate: EvaluateParams

    @model_validator(mode="after")
    def _fits(self) -> "DiffusionParams":
        tr, px = self.train, self.data.image_px
        if px % 2 ** (len(tr.ch_mult) - 1):
            raise ValueError(f"diffusion.train.ch_mult: {len(tr.ch_mult)} levels halve data.image_px {px} too often")
        levels = {px // 2 ** i for i in range(len(tr.ch_mult))}
        if any(r not in levels for r in tr.attn_resolutions):
            raise ValueError(f"diffusion.train.attn_resolutions: {list(tr.attn_resolutions)} not among the U-Net's "
                             f"resolutions {sorted(levels, reverse=True)}")
        from stages.diffusion.steps import step_sequence

        for i, d in enumerate(self.sample.ddim):
            try:
                step_sequence(tr.timesteps, d.steps, d.skip)
            except ValueError as exc:
                raise ValueError(f"diffusion.sample.ddim.{i}.steps: {exc} (diffusion.train.timesteps)") from None
        return self


load = section_loader(DiffusionParams)
