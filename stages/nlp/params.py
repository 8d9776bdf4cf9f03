"""Schema of the ``nlp:`` section of params.yaml (course 2-7, sentiment with a Transformer).

No defaults for the values that change results: params.yaml is the one place they live.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import Betas, Params, SourceParams, load_section

Fraction = Annotated[float, Field(gt=0, lt=1)]


class DownloadParams(SourceParams):
    """Labelled reviews: ``embedded`` (gensim's pang_lee_polarity.cor, 200 sentences, plus
    lee_background.cor as unlabelled text for the word vectors), ``url`` (the IMDb tar.gz in aclImdb
    layout, checked by its md5) or ``path`` (TSV files ``text<TAB>label`` or aclImdb folders)."""

    test_fraction: Fraction  # held out as test when the source has no test split of its own (embedded, TSV)
    split_seed: int = Field(ge=0, le=2**32 - 1)  # seeds that test split (not common.seed: a seed change must not move it)
    max_per_class: int = Field(ge=0)  # reviews kept per class and split (0: all); for a quick look at IMDb
    japanese: SourceParams  # the Japanese text: embedded (a short text written for the project) | url | path


class TokenizeParams(Params):
    """The course's preprocessing (stages/nlp/text.py)."""

    lowercase: bool  # English: lower-case every token (torchtext's lower=True in the book)


class VocabParams(Params):
    min_freq: int = Field(ge=1)  # a word seen fewer times in train is <unk>
    max_len: int = Field(ge=3, le=4096)  # ids per review: <cls> + tokens + <eos>, padded or truncated
    val_fraction: Fraction  # of the train split, held out for validation
    split_seed: int = Field(ge=0, le=2**32 - 1)  # the book's 1234


class VectorsParams(Params):
    """Word vectors: ``trained`` (gensim word2vec and fastText on the train text, never the test text)
    or a ``.vec`` file (fastText's text format, also ``.vec.zip`` / ``.vec.gz``) by ``url`` or ``path``."""

    source: Literal["trained", "url", "path"]
    use: Literal["word2vec", "fasttext"]  # which trained vectors the classifier's embedding takes
    dim: int = Field(ge=2, le=1024)  # the vectors' dimension = the Transformer's d_model
    window: int = Field(ge=1, le=50)
    min_count: int = Field(ge=1)
    epochs: int = Field(ge=1, le=1000)
    unlabelled: bool  # train the vectors on the unlabelled text too (more text; the smoke setting leaves it out)
    url: str | None
    sha256: str | None  # no checksum is published for fastText's .vec files: check the file once, set it here
    path: str | None
    deadline_seconds: float = Field(gt=0, le=86400)
    analogies: list[Annotated[list[str], Field(min_length=3, max_length=3)]]  # [a, b, c]: a - b + c
    japanese_analogies: list[Annotated[list[str], Field(min_length=3, max_length=3)]]

    @model_validator(mode="after")
    def _check(self) -> "VectorsParams":
        if self.source == "url" and not self.url:
            raise ValueError("source is 'url' but no url is set")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ValueError(f"sha256 is not a 64-digit hex digest (got {self.sha256!r})")
        if self.source == "path" and not self.path:
            raise ValueError("source is 'path' but no path is set")
        if self.dim % 2:
            raise ValueError(f"dim must be even: the positional encoding pairs sin and cos columns (got {self.dim})")
        return self


class TrainParams(Params):
    """The Transformer classifier (single-head attention, pre-LayerNorm) and its optimisation."""

    freeze_embedding: bool  # the book freezes the word vectors; false fine-tunes them with the rest
    blocks: int = Field(ge=1, le=24)
    ffn: int = Field(ge=1, le=16384)  # hidden units of each block's feed-forward network
    dropout: float = Field(ge=0, lt=1)
    epochs: int = Field(ge=1, le=10000)
    batch_size: int = Field(ge=1, le=4096)
    lr: float = Field(gt=0, le=1)
    betas: Betas
    amp: bool  # float16 on CUDA only
    checkpoint_every: int = Field(ge=1)
    threads: int = Field(ge=0, le=256)  # PyTorch CPU threads; 0: PyTorch's default (one per core)


class EvaluateParams(Params):
    resamples: int = Field(ge=10, le=100000)  # bootstrap resamples of the test set (95% interval)


class NlpParams(Params):
    download: DownloadParams
    tokenize: TokenizeParams
    vocab: VocabParams
    vectors: VectorsParams
    train: TrainParams
    evaluate: EvaluateParams


def load() -> NlpParams:
    return load_section("nlp", NlpParams)
