"""Schema of the ``sequence:`` section of params.yaml (BPTT by hand, the long-range memory probe, date
normalisation with and without attention).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stages.core.params import Params, section_loader
from stages.core.recipe import Recipe

Seeds = Annotated[int, Field(ge=1, le=20)]  # runs per cell, seeds common.seed, common.seed + 1, …
Hidden = Annotated[int, Field(ge=1, le=4096)]
Threshold = Annotated[float, Field(gt=0, le=1e6)]


class CheckParams(Params):
    """The gradient check: BPTT against ``torch.autograd`` on random weights and inputs."""

    sequences: int = Field(ge=1, le=1024)
    steps: int = Field(ge=1, le=1000)


class ThroughTimeParams(Params):
    """How far back a late error reaches: the recurrent matrix with every singular value ``s``."""

    steps: int = Field(ge=2, le=10_000)  # the long sequence
    singular_values: list[float] = Field(min_length=1, max_length=12)
    clip: Threshold  # the clipping threshold of the figure's clipped gradient norms

    @field_validator("singular_values")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(s <= 0 or s > 1000 for s in v):
            raise ValueError(f"each singular value must be in (0, 1000]: got {v}")
        return v


class AdditionParams(Params):
    """The notes' exercise: adding two binary numbers, plain gradient descent with and without clipping."""

    bits: int = Field(ge=2, le=30)
    updates: int = Field(ge=1, le=1_000_000)
    batch: int = Field(ge=1, le=4096)
    lr: float = Field(gt=0, le=100)
    weight_init_std: float = Field(gt=0, le=100)
    clip: Threshold


class BpttParams(Params):
    """``sequence-bptt``: the numpy network of the notes (sigmoid hidden and output layers)."""

    hidden: Hidden
    check: CheckParams
    through_time: ThroughTimeParams
    addition: AdditionParams


class MemoryParams(Recipe):
    """``sequence-memory``: the adding problem (Hochreiter & Schmidhuber 1997) at length ``steps``; each
    cell trained ``seeds`` times side by side on the same data and budget (this recipe)."""

    cells: list[Literal["rnn", "lstm", "gru"]] = Field(min_length=1, max_length=3)
    seeds: Seeds
    steps: int = Field(ge=2, le=10_000)  # T, the sequence length
    hidden: Hidden
    forget_bias: float = Field(ge=-10, le=10)  # the LSTM's forget-gate bias at initialisation (Gers et al. 2000)
    train_sequences: int = Field(ge=1, le=10_000_000)
    test_sequences: int = Field(ge=1, le=1_000_000)

    @field_validator("cells")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"cells repeat a value: {v}")
        return v


class DatesParams(Recipe):
    """``sequence-dates``: seq2seq with and without attention on date normalisation, each model trained
    ``seeds`` times side by side on the same generated dates and budget (this recipe)."""

    seeds: Seeds
    train_examples: int = Field(ge=1, le=10_000_000)
    test_examples: int = Field(ge=1, le=1_000_000)
    emb: Hidden  # character embedding width (source and target)
    hidden: Hidden  # the encoder's GRU per direction, and the decoder's


class SequenceParams(Params):
    bptt: BpttParams
    memory: MemoryParams
    dates: DatesParams


load = section_loader(SequenceParams)
