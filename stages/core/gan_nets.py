"""The GAN networks: DCGAN and Self-Attention GAN (SAGAN), built from a config.

Shared by two pipelines: `gan` trains them, and `anomaly`'s AnoGAN rebuilds the trained DCGAN from
its checkpoint to search its latent space; a checkpoint two pipelines read needs one network
definition, so it lives in core rather than in either pipeline.

Both generators grow a 4x4 map from z by stride-2 transposed convolutions up to ``image_size``;
both discriminators mirror them down to 4x4 and end in one logit per image. With
``image_size=64, channels=64`` these are the course's networks layer for layer; smaller sizes drop
the widest layers. SAGAN adds spectral normalisation on every convolution and a self-attention
module after each of the last two hidden layers of both networks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class GanConfig:
    """Everything a GAN network is built from (stored whole in checkpoints as ``model_args``)."""

    image_size: int = 64  # a power of two >= 8
    z_dim: int = 20
    channels: int = 64  # width at the largest hidden resolution; doubles per halving of resolution

    def __post_init__(self) -> None:
        s = self.image_size
        assert s >= 8 and s & (s - 1) == 0, f"image_size must be a power of two >= 8, got {s}"
        assert self.z_dim >= 1 and self.channels >= 1, f"z_dim and channels must be >= 1, got {self.z_dim}, {self.channels}"

    @property
    def n_up(self) -> int:
        """Stride-2 stages between 4x4 and image_size (4 for 64x64)."""
        return self.image_size.bit_length() - 3

    def widths(self) -> list[int]:
        """Channels of the hidden maps from 4x4 upwards, e.g. [512, 256, 128, 64] for 64x64 / 64."""
        return [self.channels * 2 ** i for i in reversed(range(self.n_up))]

    def as_dict(self) -> dict:
        return asdict(self)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation (the course's): conv weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalise every (transposed) convolution of ``module`` in place."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            spectral_norm(m)
    return module


class SelfAttention(nn.Module):
    """Self-attention over the positions of a feature map (SAGAN).

    1x1 convolutions give query, key (C/8 channels) and value (C channels); each output position is
    the attention-weighted sum of the values, added to the input scaled by a learnable γ (0 at the
    start, so training begins from the plain convolutional network).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the output (B, C, H, W) and the attention map (B, N, N), N = H*W, where row i holds
        the weights query position i gives to every key position (each row sums to 1)."""
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, N, C')
        k = self.key(x).flatten(2)  # (B, C', N)
        v = self.value(x).flatten(2)  # (B, C, N)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (B, N, N)
        o = torch.bmm(v, attn.transpose(1, 2)).view(b, c, h, w)  # o[:, :, i] = sum_j v[:, :, j] attn[i, j]
        return x + self.gamma * o, attn


class Generator(nn.Module):
    """z (B, z_dim) → image (B, 1, S, S) in [-1, 1]: transposed conv + BatchNorm + ReLU, tanh at the end.

    ``attention=True`` (SAGAN) adds spectral norm and self-attention after the last two hidden layers.
    """

    def __init__(self, cfg: GanConfig, attention: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths()
        blocks, ins = [], cfg.z_dim
        for i, out in enumerate(widths):
            conv = nn.ConvTranspose2d(ins, out, 4, 1, 0) if i == 0 else nn.ConvTranspose2d(ins, out, 4, 2, 1)
            blocks.append(nn.Sequential(conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)))
            ins = out
        self.blocks = nn.ModuleList(blocks)
        self.last = nn.Sequential(nn.ConvTranspose2d(ins, 1, 4, 2, 1), nn.Tanh())
        first_attn = max(0, len(widths) - 2)
        self.attn = nn.ModuleDict({str(i): SelfAttention(widths[i]) for i in range(first_attn, len(widths))} if attention else {})
        self.apply(init_weights)
        if attention:
            add_spectral_norm(self)

    def forward_with_attention(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Images (B, 1, S, S) and the attention maps of each attention module, coarsest first."""
        x = z.view(len(z), -1, 1, 1)  # (B, z, 1, 1)
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # (B, widths[i], 4*2^i, 4*2^i)
            if str(i) in self.attn:
                x, a = self.attn[str(i)](x)
                maps.append(a)
        return self.last(x), maps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(z)[0]


class Discriminator(nn.Module):
    """image (B, 1, S, S) → logit (B,): conv + LeakyReLU(0.1) down to 4x4, then a 4x4 conv to one value.

    ``features`` gives the last hidden map (the AnoGAN discrimination loss compares these).
    ``attention=True`` (SAGAN) adds spectral norm and self-attention after the last two hidden layers.
    """

    def __init__(self, cfg: GanConfig, attention: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths()[::-1]  # from the largest resolution down to 4x4
        blocks, ins = [], 1
        for out in widths:
            blocks.append(nn.Sequential(nn.Conv2d(ins, out, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True)))
            ins = out
        self.blocks = nn.ModuleList(blocks)
        self.last = nn.Conv2d(ins, 1, 4, 1, 0)
        first_attn = max(0, len(widths) - 2)
        self.attn = nn.ModuleDict({str(i): SelfAttention(widths[i]) for i in range(first_attn, len(widths))} if attention else {})
        self.apply(init_weights)
        if attention:
            add_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden map (B, widths[-1], 4, 4)."""
        for i, block in enumerate(self.blocks):
            x = block(x)  # (B, C_i, S/2^(i+1), S/2^(i+1))
            if str(i) in self.attn:
                x, _ = self.attn[str(i)](x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.features(x)).view(len(x))  # (B,)


def build(kind: str, model_args: dict) -> tuple[Generator, Discriminator]:
    """Rebuild the networks of a ``dcgan`` or ``sagan`` checkpoint from its ``model_args``."""
    assert kind in ("dcgan", "sagan"), f"kind must be 'dcgan' or 'sagan', got {kind!r}"
    cfg = GanConfig(**model_args)
    return Generator(cfg, attention=kind == "sagan"), Discriminator(cfg, attention=kind == "sagan")
