"""The Vision Transformer of 「Vision Transformer入門」 chapter 2 (ghmagazine/vit_book ``ch2/vit.py``),
module by module, a small CNN to compare it with, torchvision's ViT weights mapped onto it, and
Attention Rollout.

The modules keep the book's names and structure:

- :class:`VitInputLayer`: a Conv2d with kernel = stride = patch size cuts the image into patches and
  embeds them; flatten; a learnable class token in front; a learnable position embedding added.
  (B, C, H, W) → (B, N+1, D), N = ``num_patch_row``².
- :class:`MultiHeadSelfAttention`: q/k/v projections (no bias in the book), split into ``head`` heads
  of D_h = D / head, softmax(q kᵀ / √D_h) v, heads concatenated, output projection W^O. The default
  path calls ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels, no (N, N) matrix
  kept for backward on CUDA); :meth:`MultiHeadSelfAttention.attend` is the book's explicit path,
  which also returns the attention weights (Attention Rollout needs them).
- :class:`VitEncoderBlock`: pre-LayerNorm, MHSA, skip; pre-LayerNorm, MLP with GELU, skip.
- :class:`Vit`: input layer, ``num_blocks`` encoder blocks, MLP head (LayerNorm + Linear) on the
  class token.

Differences from the book, each for a reason: the class token and position embedding start from
N(0, 0.02²) instead of N(0, 1) (the book's scale swamps small patch embeddings and trains worse from
scratch; 0.02 is what ViT and torchvision use); ``qkv_bias`` and ``ln_eps`` are options (default the
book's: no bias, 1e-5) so torchvision's ImageNet weights (bias, 1e-6) load into the same module.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn



@dataclass(frozen=True)
class VitConfig:
    """A ViT's shape; the defaults are the book's (``ch2/vit.py``)."""

    in_channels: int = 3
    num_classes: int = 10
    emb_dim: int = 384
    num_patch_row: int = 2  # patches per image side: patch size = image_size / num_patch_row
    image_size: int = 32
    num_blocks: int = 7
    head: int = 8
    hidden_dim: int = 1536  # the MLP's hidden width (4 x emb_dim in the book)
    dropout: float = 0.0
    qkv_bias: bool = False  # the book: none; torchvision's ViT-B/16: yes
    ln_eps: float = 1e-5  # torchvision's ViT: 1e-6

    def __post_init__(self) -> None:
        # params.py reports these with their key path first; this guards direct use
        assert self.image_size % self.num_patch_row == 0, \
            f"num_patch_row {self.num_patch_row} does not divide image_size {self.image_size}"
        assert self.emb_dim % self.head == 0, f"emb_dim {self.emb_dim} is not divisible by head {self.head}"

    @property
    def patch_size(self) -> int:
        return self.image_size // self.num_patch_row

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class VitInputLayer(nn.Module):
    """Patches → embeddings, class token, position embedding: (B, C, H, W) → (B, N+1, D)."""

    def __init__(self, in_channels: int = 3, emb_dim: int = 384, num_patch_row: int = 2, image_size: int = 32):
        super().__init__()
        self.num_patch_row = num_patch_row
        self.num_patch = num_patch_row ** 2
        self.patch_size = image_size // num_patch_row
        # kernel = stride = patch size: one output position per patch, its embedding in the channels
        self.patch_emb_layer = nn.Conv2d(in_channels, emb_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, emb_dim) * 0.02)
        self.pos_emb = nn.Parameter(torch.randn(1, self.num_patch + 1, emb_dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.patch_emb_layer(x)  # (B, D, H/P, W/P)
        z = z.flatten(2).transpose(1, 2)  # (B, N, D)
        z = torch.cat([self.cls_token.expand(len(z), -1, -1), z], dim=1)  # (B, N+1, D)
        return z + self.pos_emb  # (B, N+1, D)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with the book's q/k/v/W^O layout: (B, N, D) → (B, N, D).

    Args:
        emb_dim: D.
        head: number of heads; D_h = D / head.
        dropout: on the attention weights and after W^O.
        qkv_bias: bias in the q/k/v projections (torchvision's weights have one).
    """

    def __init__(self, emb_dim: int = 384, head: int = 3, dropout: float = 0.0, qkv_bias: bool = False):
        super().__init__()
        self.head, self.emb_dim = head, emb_dim
        self.head_dim = emb_dim // head
        self.sqrt_dh = self.head_dim ** 0.5
        self.dropout = dropout
        self.w_q = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.w_k = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.w_v = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(dropout)
        self.w_o = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.Dropout(dropout))

    def _heads(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = z.shape
        # (B, N, D) → (B, N, h, D_h) → (B, h, N, D_h)
        q, k, v = (w(z).view(b, n, self.head, self.head_dim).transpose(1, 2) for w in (self.w_q, self.w_k, self.w_v))
        return q, k, v

    def _merge(self, out: torch.Tensor) -> torch.Tensor:
        b, _, n, _ = out.shape
        return self.w_o(out.transpose(1, 2).reshape(b, n, self.emb_dim))  # (B, h, N, D_h) → (B, N, D)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(z)
        # the same softmax(q kᵀ / √D_h) v as attend(), in PyTorch's fused kernel (scale = 1/√D_h by default)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self._merge(out)

    def attend(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The book's explicit computation, returning the attention weights too.

        Returns:
            the output (B, N, D) and the attention weights (B, h, N, N), before dropout (rows sum to 1).
        """
        q, k, v = self._heads(z)
        dots = q @ k.transpose(-2, -1) / self.sqrt_dh  # (B, h, N, N)
        attn = F.softmax(dots, dim=-1)
        out = self.attn_drop(attn) @ v  # (B, h, N, D_h)
        return self._merge(out), attn


class VitEncoderBlock(nn.Module):
    """Pre-LN encoder block: z + MHSA(LN(z)), then + MLP(LN(·)); (B, N, D) → (B, N, D)."""

    def __init__(self, emb_dim: int = 384, head: int = 8, hidden_dim: int = 1536, dropout: float = 0.0,
                 qkv_bias: bool = False, ln_eps: float = 1e-5):
        super().__init__()
        self.ln1 = nn.LayerNorm(emb_dim, eps=ln_eps)
        self.msa = MultiHeadSelfAttention(emb_dim, head, dropout, qkv_bias)
        self.ln2 = nn.LayerNorm(emb_dim, eps=ln_eps)
        # indices 0 and 3 are the Linears, as in torchvision's MLPBlock (their weights map one to one)
        self.mlp = nn.Sequential(nn.Linear(emb_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_dim, emb_dim), nn.Dropout(dropout))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = self.msa(self.ln1(z)) + z
        return self.mlp(self.ln2(z)) + z

    def forward_with_attention(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, attn = self.msa.attend(self.ln1(z))
        z = out + z
        return self.mlp(self.ln2(z)) + z, attn


class Vit(nn.Module):
    """The whole ViT: (B, C, H, W) → logits (B, num_classes)."""

    def __init__(self, cfg: VitConfig):
        super().__init__()
        self.cfg = cfg
        self.input_layer = VitInputLayer(cfg.in_channels, cfg.emb_dim, cfg.num_patch_row, cfg.image_size)
        self.encoder = nn.Sequential(*[VitEncoderBlock(cfg.emb_dim, cfg.head, cfg.hidden_dim, cfg.dropout, cfg.qkv_bias, cfg.ln_eps)
                                       for _ in range(cfg.num_blocks)])
        self.mlp_head = nn.Sequential(nn.LayerNorm(cfg.emb_dim, eps=cfg.ln_eps), nn.Linear(cfg.emb_dim, cfg.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(self.input_layer(x))  # (B, N+1, D)
        return self.mlp_head(z[:, 0])  # the class token → (B, num_classes)

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and each block's attention weights (B, h, N+1, N+1), through the explicit path."""
        z, maps = self.input_layer(x), []
        for block in self.encoder:
            z, attn = block.forward_with_attention(z)
            maps.append(attn)
        return self.mlp_head(z[:, 0]), maps


HEAD_PREFIX = "mlp_head.1."  # the classifier replaced when fine-tuning


class SmallCnn(nn.Module):
    """The baseline: three conv-BN-ReLU stages (widths c, 2c, 4c; the first two halve the side),
    global average pooling, a linear classifier. (B, C, H, W) → (B, num_classes)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int):
        super().__init__()

        def stage(cin: int, cout: int, pool: bool) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                    *([nn.MaxPool2d(2)] if pool else [])]

        c = channels
        self.features = nn.Sequential(*stage(in_channels, c, True), *stage(c, 2 * c, True), *stage(2 * c, 4 * c, False))
        self.head = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))  # (B, 4c, H/4, W/4) → (B, 4c) → (B, classes)


def build_vit(model_args: dict[str, Any]) -> tuple[Vit]:
    """A ViT from a checkpoint's ``model_args`` (``{"vit": VitConfig fields, ...}``)."""
    return (Vit(VitConfig(**model_args["vit"])),)


def build_cnn(model_args: dict[str, Any]) -> tuple[SmallCnn]:
    """The CNN from a checkpoint's ``model_args`` (``{"cnn": {in_channels, num_classes, channels}, ...}``)."""
    return (SmallCnn(**model_args["cnn"]),)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- torchvision's ViT weights ------------------------------------------------------------------

def from_torchvision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision ``VisionTransformer`` state dict (``vit_b_16`` …) renamed to :class:`Vit`'s keys.

    torchvision packs q, k and v into one ``in_proj_weight`` (3D, D) in that order; it is split into
    ``w_q``/``w_k``/``w_v``. The final ``encoder.ln`` is the head's LayerNorm here. Keys that are
    not torchvision's are passed through unchanged, so :func:`stages.core.weights.match_state_dict`
    names them when the file is for another architecture.

    Returns:
        the renamed state dict (a state dict already in this module's keys comes back unchanged).
    """
    if "conv_proj.weight" not in state:
        return dict(state)
    out: dict[str, torch.Tensor] = {}
    simple = {"class_token": "input_layer.cls_token", "conv_proj.weight": "input_layer.patch_emb_layer.weight",
              "conv_proj.bias": "input_layer.patch_emb_layer.bias", "encoder.pos_embedding": "input_layer.pos_emb",
              "encoder.ln.weight": "mlp_head.0.weight", "encoder.ln.bias": "mlp_head.0.bias",
              "heads.head.weight": "mlp_head.1.weight", "heads.head.bias": "mlp_head.1.bias"}
    prefix = "encoder.layers.encoder_layer_"
    for key, value in state.items():
        if key in simple:
            out[simple[key]] = value
        elif key.startswith(prefix):
            index, _, rest = key[len(prefix):].partition(".")
            base = f"encoder.{index}."
            if rest.startswith("self_attention.in_proj_"):
                kind = rest.rsplit("_", 1)[1]  # weight | bias
                for name, part in zip(("w_q", "w_k", "w_v"), value.chunk(3, dim=0)):
                    out[f"{base}msa.{name}.{kind}"] = part
            elif rest.startswith("self_attention.out_proj."):
                out[f"{base}msa.w_o.0.{rest.rsplit('.', 1)[1]}"] = value
            else:  # ln_1, ln_2, mlp.0, mlp.3
                out[base + rest.replace("ln_1", "ln1").replace("ln_2", "ln2")] = value
        else:
            out[key] = value
    return out


def load_backbone(model: Vit, state: dict[str, torch.Tensor], source: str) -> int:
    """Load pretrained weights (torchvision's or ours) into ``model``, its classifier kept as initialised.

    Returns:
        the number of tensors loaded.

    Raises:
        DataError: keys or shapes that do not fit ``model`` (named, see ``match_state_dict``).
    """
    from stages.core.weights import match_state_dict

    matched = match_state_dict(model, from_torchvision(state), source, skip=(HEAD_PREFIX,))
    model.load_state_dict(matched, strict=False)
    return len(matched)


# ---- explanations --------------------------------------------------------------------------------

def attention_rollout(maps: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """Attention Rollout (Abnar & Zuidema, 2020): how much each token's input reaches each token's
    output through every layer.

    Per layer the heads are averaged, the skip connection is accounted for as
    ``residual * I + (1 - residual) * A``, rows renormalised to 1, and the layers multiplied from the
    first to the last: ``R = Â_L … Â_1``.

    Args:
        maps: per layer, attention weights (B, h, N, N) with rows summing to 1.
        residual: the identity's share (0.5 in the paper).

    Returns:
        (B, N, N); row 0 is what the class token, hence the classifier, draws from each token.
    """
    assert maps, "attention_rollout needs at least one layer's attention"
    b, _, n, _ = maps[0].shape
    eye = torch.eye(n, dtype=maps[0].dtype, device=maps[0].device).expand(b, n, n)
    rollout = eye
    for attn in maps:
        a = residual * eye + (1 - residual) * attn.mean(dim=1)  # (B, N, N)
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout
    return rollout


def cls_rollout_map(rollout: torch.Tensor, num_patch_row: int) -> torch.Tensor:
    """The class token's row over the patches, as a (B, rows, rows) map scaled to max 1."""
    m = rollout[:, 0, 1:].reshape(-1, num_patch_row, num_patch_row)
    return m / m.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def position_similarity(pos_emb: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between the learned position embeddings of the patches (class token left out).

    Args:
        pos_emb: (1, N+1, D).

    Returns:
        (N, N): entry (i, j) is cos(pos_i, pos_j).
    """
    p = F.normalize(pos_emb[0, 1:].detach().float(), dim=-1)  # (N, D)
    return p @ p.T
