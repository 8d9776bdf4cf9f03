"""Schema of the ``tabular:`` section of params.yaml.

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator

from stages.core.params import Params, SourceParams, section_loader

ScalerName = Literal["minmax", "standard", "robust", "none"]


class SplitParams(Params):
    test_size: float = Field(gt=0, lt=1)


class EncodeParams(Params):
    drop: list[str]  # leaking (alive) or redundant (class, embark_town) columns
    categorical: Literal["onehot", "label"]


class AnalyzeParams(Params):
    columns: list[str]
    alpha: float = Field(gt=0, lt=1)  # significance level of the normality/uniformity tests
    bins: int = Field(ge=2, le=1000)  # histogram bins for the chi-square uniformity test and the figures


class ScaleParams(Params):
    override: dict[str, ScalerName]  # column -> scaler, replacing the analysis' choice


class BalanceParams(Params):
    method: Literal["none", "under", "over"]


class TrainParams(Params):
    C: float = Field(gt=0, le=1e6)  # beyond 1e6 libsvm no longer converges in reasonable time
    kernel: Literal["linear", "poly", "rbf", "sigmoid"]
    gamma: Literal["scale", "auto"] | float  # sklearn's names, or a kernel coefficient > 0

    @field_validator("gamma", mode="plain")
    @classmethod
    def _gamma(cls, v: object) -> str | float:
        # one message for the union (pydantic would report each alternative on its own line)
        if isinstance(v, str) and v in ("scale", "auto"):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            return float(v)
        raise ValueError("must be 'scale', 'auto' or a finite number > 0")


class TabularParams(Params):
    download: SourceParams
    split: SplitParams
    encode: EncodeParams
    analyze: AnalyzeParams
    scale: ScaleParams
    balance: BalanceParams
    train: TrainParams


load = section_loader(TabularParams)
