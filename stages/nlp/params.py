"""Schema of the ``nlp:`` section of params.yaml (course 2-7, sentiment with a Transformer).

No defaults for the values that change results: params.yaml is the one place they live.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import Params, SourceParams, section_loader
from stages.core.recipe import Recipe

Fraction = Annotated[float, Field(gt=0, lt=1)]


class JapaneseSourceParams(SourceParams):
    """The Japanese text: ``embedded`` (two works of Sōseki vendored in stages/nlp/datasets/),
    ``story`` (the 16-line story of stages/nlp/japanese.py, for the smoke setting), ``url`` or ``path``."""

    source: Literal["embedded", "story", "url", "path"] = "embedded"


class DownloadParams(SourceParams):
    """Labelled reviews: ``embedded`` (Pang & Lee's sentence polarity v1.0, 10,662 sentences, vendored
    in stages/nlp/datasets/), ``gensim`` (gensim's pang_lee_polarity.cor, 200 sentences, plus
    lee_background.cor as unlabelled text for the word vectors), ``url`` (the IMDb tar.gz in aclImdb
    layout, checked by its md5) or ``path`` (TSV files ``text<TAB>label`` or aclImdb folders)."""

    source: Literal["embedded", "gensim", "url", "path"] = "embedded"
    test_fraction: Fraction  # held out as test when the source has no test split of its own (embedded, TSV)
    split_seed: int = Field(ge=0, le=2**32 - 1)  # seeds that test split (not common.seed: a seed change must not move it)
    max_per_class: int = Field(ge=0)  # reviews kept per class and split (0: all); for a quick look at IMDb
    japanese: JapaneseSourceParams  # the Japanese text: embedded (Sōseki) | story (a short text written for the project) | url | path


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


class JapaneseParams(Params):
    """Japanese word2vec and fastText (stage `nlp-japanese`) on the Janome tokens of the Japanese text."""

    dim: int = Field(ge=2, le=1024)
    window: int = Field(ge=1, le=50)
    min_count: int = Field(ge=1)
    epochs: int = Field(ge=1, le=1000)
    skipgram: bool  # skip-gram (better on a small corpus, the word2vec paper's finding) instead of CBOW
    topn: int = Field(ge=1, le=100)  # neighbours reported; an analogy holds when its answer is among them
    neighbours: list[str]  # words whose nearest neighbours are reported
    analogies: list[Annotated[list[str], Field(min_length=4, max_length=4)]]  # [a, b, c, expected]: a - b + c ≈ expected


class TrainParams(Recipe):
    """The Transformer classifier (single-head attention, pre-LayerNorm) and its training recipe."""

    freeze_embedding: bool  # the book freezes the word vectors; false fine-tunes them with the rest
    blocks: int = Field(ge=1, le=24)
    ffn: int = Field(ge=1, le=16384)  # hidden units of each block's feed-forward network
    dropout: float = Field(ge=0, lt=1)
    threads: int = Field(ge=0, le=256)  # PyTorch CPU threads; 0: PyTorch's default (one per core)


class EvaluateParams(Params):
    resamples: int = Field(ge=10, le=100000)  # bootstrap resamples of the test set (95% interval)


class NlpParams(Params):
    download: DownloadParams
    tokenize: TokenizeParams
    vocab: VocabParams
    vectors: VectorsParams
    japanese: JapaneseParams
    train: TrainParams
    evaluate: EvaluateParams


load = section_loader(NlpParams)
