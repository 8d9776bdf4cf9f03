"""Schema of the ``sequence:`` section of params.yaml (BPTT by hand, the long-range memory probe, date
normalisation with and without attention, English–Japanese pairs, word2vec, translation).

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from stages.core.params import Params, SourceParams, section_loader
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


class PairsParams(SourceParams):
    """``sequence-pairs``: English–Japanese sentence pairs in the Tanaka-corpus layout: ``embedded`` (10k
    pairs vendored in stages/sequence/datasets/), ``path`` (one such folder) or ``url`` (a .zip or
    .tar.gz holding one, checked against ``sha256``)."""

    min_freq: int = Field(ge=1, le=1_000_000)  # a token enters a vocabulary when the training split has it this often
    max_tokens: int = Field(ge=1, le=100_000)  # a longer line is refused (file and line named)
    max_train_pairs: int = Field(ge=0, le=100_000_000)  # the first training pairs only (0: all); every line is checked

    @field_validator("path")
    @classmethod
    def _one_folder(cls, v: list[str]) -> list[str]:
        if len(v) > 1:
            raise ValueError(f"path names one folder (train/dev/test .en and .ja files), got {len(v)}")
        return v

    @model_validator(mode="after")
    def _check_source(self) -> "PairsParams":  # replaces SourceParams': a url without a checksum stops the stage, not params.yaml
        if self.source == "url" and not self.url:
            raise ValueError("source is 'url' but no url is set")
        if self.source == "path" and not self.path:
            raise ValueError("source is 'path' but path names no folder")
        return self


class Word2VecParams(Recipe):
    """``sequence-word2vec``: skip-gram with negative sampling in PyTorch (trained under this recipe)
    beside gensim's, on one language of the pairs' training split with the same settings."""

    language: Literal["en", "ja"]
    dim: Hidden
    window: int = Field(ge=1, le=50)  # the widest window; each centre word's is drawn from 1 to this
    negatives: int = Field(ge=1, le=100)  # noise words per (centre, context) pair
    sample: float = Field(ge=0, le=1)  # word2vec's subsampling of frequent words (0: none)
    min_count: int = Field(ge=1, le=1_000_000)
    gensim_alpha: float = Field(gt=0, le=10)  # gensim's starting learning rate (falls linearly, its own SGD)
    neighbours: int = Field(ge=1, le=100)  # nearest neighbours reported per query word
    queries: list[str] = Field(min_length=1, max_length=50)  # words whose neighbours are reported (those the corpus has)
    pairs_compared: int = Field(ge=10, le=10_000_000)  # random word pairs whose similarities in the two models are correlated


class TranslateParams(Recipe):
    """``sequence-translate``: the three translators (stages/sequence/translators.py) trained ``seeds``
    times each, side by side on the same pairs, vocabularies and budget (this recipe)."""

    direction: Literal["ja-en", "en-ja"]  # source-target
    models: list[Literal["plain", "attention", "transformer"]] = Field(min_length=1, max_length=3)
    seeds: Seeds
    emb: Hidden  # the recurrent models' embeddings (source and target)
    hidden: Hidden  # their encoder GRU per direction, and decoder GRU
    d_model: Hidden  # the Transformer's width
    heads: int = Field(ge=1, le=64)
    layers: int = Field(ge=1, le=24)  # encoder layers, and as many decoder layers
    feedforward: Hidden
    dropout: float = Field(ge=0, lt=1)

    @field_validator("models")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"models repeat a value: {v}")
        return v


class EvaluateParams(Params):
    """``sequence-evaluate``: every trained translator decoded on the test split."""

    max_steps: int = Field(ge=1, le=10_000)  # tokens decoded at most, <eos> included
    beam: int = Field(ge=1, le=64)  # beam width (1: greedy decoding only)
    length_penalty: float = Field(ge=0, le=5)  # alpha of log p / length^alpha
    examples: int = Field(ge=1, le=100)  # sample translations listed, right and wrong


class SequenceParams(Params):
    bptt: BpttParams
    memory: MemoryParams
    dates: DatesParams
    pairs: PairsParams
    word2vec: Word2VecParams
    translate: TranslateParams
    evaluate: EvaluateParams


load = section_loader(SequenceParams)
