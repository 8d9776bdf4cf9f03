"""Schema of the ``compress:`` section of params.yaml (the data, the teacher, the students, the
omitted-class experiment, pruning, quantisation, the trade-off table).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stages.core.params import Params, SourceParams, section_loader
from stages.core.recipe import Recipe

Seeds = Annotated[int, Field(ge=1, le=20)]  # runs per variant, seeds common.seed, common.seed + 1, …
Temperature = Annotated[float, Field(gt=0, le=100)]
Weight = Annotated[float, Field(ge=0, le=1)]


class DataParams(SourceParams):
    """``embedded``: scikit-learn's 1,797 8x8 digits, split here; ``url``: CIFAR-10's python tarball
    (its md5 checked, its own test batch). ``path`` is not a source of this pipeline."""

    source: Literal["embedded", "url"]
    test_fraction: float = Field(gt=0, lt=0.5)  # embedded only, stratified, seeded by common.seed
    max_train_per_class: int | None = Field(ge=1)  # cap on training images per class (null: all)


class NetParams(Params):
    """A network: ``cnn`` (the pipeline's family: stem and two blocks of these widths) or ``resnet18``
    (torchvision's quantisable ResNet-18 with CIFAR's stem; ``channels`` and ``separable`` unused)."""

    arch: Literal["cnn", "resnet18"]
    channels: list[int] = Field(min_length=3, max_length=3)  # stem, block 1, block 2
    separable: bool  # the blocks' convs depthwise-separable (MobileNet)

    @field_validator("channels")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(c < 1 or c > 4096 for c in v):
            raise ValueError(f"channels must be three widths in [1, 4096]: got {v}")
        return v


class TeacherParams(Recipe):
    net: NetParams


class DistillParams(Params):
    temperature: Temperature  # T: softmax(logits / T) for the teacher's soft targets and the student
    alpha: Weight  # weight of the hard-label loss; 1 − alpha goes to the soft targets (× T²)


class StudentsParams(Recipe):
    """``compress-students``: the student alone, the student distilled from the teacher, and the
    depthwise-separable student alone, each ``seeds`` times."""

    net: NetParams  # the student (and, with separable: true, its separable cousin)
    seeds: Seeds
    distill: DistillParams


class OmittedParams(Recipe):
    """``compress-omitted``: students that never see class ``omitted`` (Hinton et al. 2015, §3),
    trained on hard labels and distilled, each ``seeds`` times."""

    omitted: int = Field(ge=0, le=999)  # the class left out of the transfer set
    seeds: Seeds
    distill: DistillParams


class PruneParams(Recipe):
    """``compress-prune``: the teacher pruned to each sparsity (global magnitude), then fine-tuned
    (this recipe) ``seeds`` times."""

    sparsities: list[float] = Field(min_length=1, max_length=20)
    seeds: Seeds

    @field_validator("sparsities")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [s for s in v if not 0 <= s < 1]
        if bad:
            raise ValueError(f"each sparsity must be in [0, 1) (1 would prune every weight): got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"sparsities repeat a value: {v}")
        return v


class QatParams(Recipe):
    seeds: Seeds


class QuantizeParams(Params):
    """``compress-quantize``: the teacher in int8, post-training (static) and after
    quantisation-aware fine-tuning (``qat``)."""

    backend: str = Field(min_length=1)  # a torch quantised engine this CPU runs: x86, fbgemm, qnnpack, onednn
    calibration_images: int = Field(ge=1, le=100_000)  # training images that set the activation ranges
    qat: QatParams


class EvaluateParams(Params):
    resamples: int = Field(ge=100, le=100_000)  # bootstrap resamples of the teacher's accuracy interval
    latency_repeats: int = Field(ge=0, le=1000)  # rounds of the latency measurement (run record only); 0: none


class CompressParams(Params):
    data: DataParams
    teacher: TeacherParams
    students: StudentsParams
    omitted: OmittedParams
    prune: PruneParams
    quantize: QuantizeParams
    evaluate: EvaluateParams


load = section_loader(CompressParams)
