"""The book's Transformer classifier (小川 ch. 7): frozen word vectors, positional encoding
``sqrt(d)·x + pe``, pre-LayerNorm blocks with single-head attention and a padding mask, a ReLU
feed-forward network, and a linear head on token 0 (``<cls>``).

Shapes: ids (B, T) → embeddings (B, T, d) → blocks (B, T, d), each also returning its attention
weights (B, T, T) → logits (B, 2) from position 0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stages.nlp.token_ids import PAD_ID

KIND = "nlp-transformer"


@dataclass(frozen=True)
class TransformerConfig:
    vocab: int  # rows of the embedding
    d_model: int  # the word vectors' dimension (single head: d_k = d_model)
    max_len: int  # positions the encoding covers
    blocks: int = 2
    ffn: int = 1024
    dropout: float = 0.1
    classes: int = 2

    def as_dict(self) -> dict:
        return asdict(self)


def positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model) table as the book computes it: sin at even, cos at odd columns,
    ``pos / 10000 ** (2 i / d)`` with ``i`` the column index (the book's variant of Vaswani et al.)."""
    assert d_model % 2 == 0, f"d_model must be even for the sin/cos pairs (got {d_model})"
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (T, 1)
    i = torch.arange(0, d_model, 2, dtype=torch.float64)[None, :]  # (1, d/2): 0, 2, 4, …
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos / 10000 ** ((2 * i) / d_model))
    pe[:, 1::2] = torch.cos(pos / 10000 ** ((2 * (i + 1)) / d_model))
    return pe.float()


class Attention(nn.Module):
    """Single-head scaled dot-product attention; padded keys get no weight."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(d_model, d_model) for _ in range(4))
        self.scale = math.sqrt(d_model)  # d_k = d_model: one head

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, d), mask (B, T) True where a token is not padding → (B, T, d), weights (B, T, T)."""
        scores = self.q(x) @ self.k(x).transpose(1, 2) / self.scale  # (B, T, T): query rows, key columns
        # mask and softmax in float32: the book's -1e9 overflows float16 (mixed precision on CUDA)
        scores = scores.float().masked_fill(~mask[:, None, :], -1e9)  # every query ignores padded keys
        weights = F.softmax(scores, dim=-1)
        v = self.v(x)
        return self.out(weights.to(v.dtype) @ v), weights


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: x + attn(LN(x)), then + FFN(LN(·))."""

    def __init__(self, d_model: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = Attention(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ffn), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn, d_model))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, weights = self.attn(self.norm1(x), mask)
        x = x + self.drop1(a)
        return x + self.drop2(self.ff(self.norm2(x))), weights  # (B, T, d), (B, T, T)


class TransformerClassifier(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        self.embed.weight.requires_grad_(False)  # frozen: the word vectors are not trained here
        self.register_buffer("pe", positional_encoding(cfg.max_len, cfg.d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.ffn, cfg.dropout) for _ in range(cfg.blocks))
        self.head = nn.Linear(cfg.d_model, cfg.classes)
        nn.init.normal_(self.head.weight, std=0.02)  # the book's head initialisation
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """ids (B, T) with T <= max_len → logits (B, classes) and each block's attention (B, T, T)."""
        mask = ids != PAD_ID  # (B, T)
        x = math.sqrt(self.cfg.d_model) * self.embed(ids) + self.pe[: ids.shape[1]]  # (B, T, d)
        maps = []
        for block in self.blocks:
            x, weights = block(x, mask)
            maps.append(weights)
        return self.head(x[:, 0]), maps  # token 0 is <cls>


def build(model_args: dict) -> tuple[TransformerClassifier]:
    """The classifier from a checkpoint's ``model_args`` (a tuple: :func:`stages.core.checkpoint.load_models`)."""
    return (TransformerClassifier(TransformerConfig(**model_args)),)
