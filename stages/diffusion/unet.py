"""The ε-prediction U-Net of DDPM / DDIM (Ho et al. 2020; the DDIM code's ``models/diffusion.py``).

A library module: `diffusion-train` builds and trains it, `diffusion-sample` rebuilds it from the
checkpoint's ``model_args``. The layout follows the DDIM authors' network: a sinusoidal timestep
embedding through two linear layers, residual blocks that add the embedding, self-attention at the
listed resolutions, ``num_res_blocks`` blocks per level going down, one more per level coming up
(over the concatenated skip), strided-conv downsampling and nearest + conv upsampling.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Everything the network is built from (stored in the checkpoint as ``model_args``).

    Attributes:
        image_px: side of the square input.
        in_channels: image channels (1 for digits, 3 for CIFAR-10).
        ch: channels of the first level (128 in the DDIM code's CIFAR-10 config).
        ch_mult: channel multiplier per level; level i runs at ``image_px / 2**i``.
        num_res_blocks: residual blocks per level on the way down.
        attn_resolutions: resolutions (sides in pixels) with self-attention after each block.
        dropout: dropout inside the residual blocks.
    """

    image_px: int
    in_channels: int
    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    attn_resolutions: tuple[int, ...]
    dropout: float

    def as_dict(self) -> dict:
        return {**asdict(self), "ch_mult": list(self.ch_mult), "attn_resolutions": list(self.attn_resolutions)}

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        return cls(**{**d, "ch_mult": tuple(d["ch_mult"]), "attn_resolutions": tuple(d["attn_resolutions"])})


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (the Transformer's, as in DDPM).

    Args:
        t: (B,) timestep indices.
        dim: embedding width (even).

    Returns:
        (B, dim): sin of ``t * 10000^(-k/(half-1))`` in the first half, cos in the second.
    """
    assert dim % 2 == 0, f"timestep embedding width must be even, got {dim}"
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1))
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def norm(ch: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups as in the DDIM code, fewer for narrow layers (groups must divide ch)."""
    return nn.GroupNorm(math.gcd(32, ch), ch, eps=1e-6)


class ResBlock(nn.Module):
    """norm → swish → conv, + projected time embedding, norm → swish → dropout → conv, + skip."""

    def __init__(self, c_in: int, c_out: int, temb: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.temb = nn.Linear(temb, c_out)
        self.norm2, self.drop, self.conv2 = norm(c_out), nn.Dropout(dropout), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(emb))[:, :, None, None]  # (B, c_out, 1, 1) broadcast over the image
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over the H*W positions, residual."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.norm, self.qkv, self.proj = norm(ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, hh * ww).unbind(1)  # each (B, C, N)
        h = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (B, N, C)
        return x + self.proj(h.transpose(1, 2).reshape(b, c, hh, ww))


class UNet(nn.Module):
    """ε_θ(x_t, t): (B, C, S, S) noisy images and (B,) timestep indices → (B, C, S, S) predicted noise."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        assert cfg.image_px % 2 ** (len(cfg.ch_mult) - 1) == 0, \
            f"image_px {cfg.image_px} cannot be halved {len(cfg.ch_mult) - 1} times (ch_mult {cfg.ch_mult})"
        self.cfg = cfg
        ch, temb = cfg.ch, 4 * cfg.ch
        self.temb = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(cfg.in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        skips, c, res = [ch], ch, cfg.image_px
        for i, mult in enumerate(cfg.ch_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(self._block(c, ch * mult, temb, res))
                c = ch * mult
                skips.append(c)
            if i < len(cfg.ch_mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # (B, c, res/2, res/2)
                skips.append(c)
                res //= 2
        self.mid = nn.ModuleList([ResBlock(c, c, temb, cfg.dropout), Attention(c), ResBlock(c, c, temb, cfg.dropout)])
        self.up = nn.ModuleList()
        for i, mult in reversed(list(enumerate(cfg.ch_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(self._block(c + skips.pop(), ch * mult, temb, res))
                c = ch * mult
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)))
                res *= 2
        self.norm_out, self.conv_out = norm(c), nn.Conv2d(c, cfg.in_channels, 3, padding=1)

    def _block(self, c_in: int, c_out: int, temb: int, res: int) -> nn.ModuleList:
        block = [ResBlock(c_in, c_out, temb, self.cfg.dropout)]
        if res in self.cfg.attn_resolutions:
            block.append(Attention(c_out))
        return nn.ModuleList(block)

    @staticmethod
    def _run(layer: nn.Module, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, nn.ModuleList):  # a residual block, maybe followed by attention
            h = layer[0](h, emb)
            for extra in layer[1:]:
                h = extra(h)
            return h
        return layer(h)  # down/up sampling

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.temb(timestep_embedding(t, self.cfg.ch))  # (B, 4ch)
        hs = [self.conv_in(x)]
        for layer in self.down:
            hs.append(self._run(layer, hs[-1], emb))
        h = self.mid[2](self.mid[1](self.mid[0](hs[-1], emb)), emb)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                h = torch.cat([h, hs.pop()], dim=1)  # the matching skip from the way down
            h = self._run(layer, h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


def build(model_args: dict) -> tuple[UNet]:
    """The network of a checkpoint's ``model_args`` (the builder :func:`stages.core.checkpoint.load_models` takes)."""
    return (UNet(UNetConfig.from_dict(model_args)),)
