"""The ViT module by module (shapes, the book's config), SDPA against the explicit attention,
torchvision's weights mapped onto it, and Attention Rollout where the answer is known."""
from __future__ import annotations

import pytest
import torch
from torchvision.models import VisionTransformer

from stages.vit.model import (MultiHeadSelfAttention, SmallCnn, Vit, VitConfig, VitEncoderBlock, VitInputLayer,
                              attention_rollout, cls_rollout_map, count_parameters, from_torchvision, load_backbone,
                              position_similarity)

BOOK = VitConfig()  # in_channels=3, num_classes=10, emb_dim=384, num_patch_row=2, image_size=32, num_blocks=7, head=8, hidden_dim=1536


def test_the_defaults_are_the_books():
    assert (BOOK.in_channels, BOOK.num_classes, BOOK.emb_dim, BOOK.num_patch_row, BOOK.image_size, BOOK.num_blocks,
            BOOK.head, BOOK.hidden_dim, BOOK.dropout) == (3, 10, 384, 2, 32, 7, 8, 1536, 0.0)


def test_input_layer_book_config():
    layer = VitInputLayer(BOOK.in_channels, BOOK.emb_dim, BOOK.num_patch_row, BOOK.image_size)
    x = torch.randn(2, 3, 32, 32)
    z = layer(x)
    assert z.shape == (2, 2 * 2 + 1, 384)  # (B, N+1, D): 4 patches of 16x16 and the class token
    assert layer.patch_emb_layer.kernel_size == layer.patch_emb_layer.stride == (16, 16)
    # the first token is the class token plus its position embedding, whatever the image
    assert torch.allclose(z[0, 0], z[1, 0]) and torch.allclose(z[0, 0], (layer.cls_token + layer.pos_emb[:, 0])[0, 0])


def test_mhsa_shape_and_sdpa_equals_the_books_explicit_path():
    torch.manual_seed(0)
    msa = MultiHeadSelfAttention(emb_dim=384, head=8)
    assert msa.w_q.bias is None and msa.head_dim == 48 and msa.sqrt_dh == pytest.approx(48 ** 0.5)
    z = torch.randn(2, 5, 384)
    fused = msa(z)
    explicit, attn = msa.attend(z)
    assert fused.shape == explicit.shape == (2, 5, 384)
    assert attn.shape == (2, 8, 5, 5) and torch.allclose(attn.sum(-1), torch.ones(2, 8, 5))
    assert torch.allclose(fused, explicit, atol=1e-5)


def test_block_head_and_whole_model_book_config():
    torch.manual_seed(0)
    block = VitEncoderBlock(384, 8, 1536)
    z = torch.randn(2, 5, 384)
    assert block(z).shape == (2, 5, 384)
    out, attn = block.forward_with_attention(z)
    assert torch.allclose(out, block(z), atol=1e-5) and attn.shape == (2, 8, 5, 5)
    net = Vit(BOOK)
    assert net.mlp_head(torch.randn(2, 384)).shape == (2, 10)
    x = torch.randn(2, 3, 32, 32)
    logits = net(x)
    assert logits.shape == (2, 10)
    same, maps = net.forward_with_attention(x)
    assert torch.allclose(same, logits, atol=1e-5) and len(maps) == 7 and maps[0].shape == (2, 8, 5, 5)


def test_small_cnn_shape():
    assert SmallCnn(1, 10, 8)(torch.randn(3, 1, 16, 16)).shape == (3, 10)


@pytest.mark.parametrize("kw, msg", [({"num_patch_row": 3}, "does not divide"), ({"head": 5}, "not divisible")])
def test_config_refuses_shapes_that_do_not_fit(kw, msg):
    with pytest.raises(AssertionError, match=msg):
        VitConfig(**kw)


def test_torchvision_weights_give_torchvisions_outputs():
    torch.manual_seed(0)
    tv = VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16, num_classes=3).eval()
    cfg = VitConfig(in_channels=3, num_classes=3, emb_dim=8, num_patch_row=4, image_size=16, num_blocks=2, head=2,
                    hidden_dim=16, qkv_bias=True, ln_eps=1e-6)
    ours = Vit(cfg).eval()
    ours.load_state_dict(from_torchvision(tv.state_dict()))  # strict: every key maps, none left over
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(ours(x), tv(x), atol=1e-5)
    # fine-tuning keeps our own head (another number of classes) and takes the rest
    other = Vit(VitConfig(**{**cfg.as_dict(), "num_classes": 5}))
    assert load_backbone(other, tv.state_dict(), "tv.pth") == len(ours.state_dict()) - 2
    assert torch.equal(other.input_layer.pos_emb, tv.encoder.pos_embedding)


def test_rollout_of_uniform_attention_is_known():
    """With q = k = 0 every attention row is uniform (U = 1/N): each layer is 0.5 I + 0.5 U, and since
    U² = U, L layers give 0.5^L I + (1 - 0.5^L) U."""
    torch.manual_seed(0)
    cfg = VitConfig(in_channels=1, num_classes=2, emb_dim=8, num_patch_row=2, image_size=4, num_blocks=3, head=2, hidden_dim=8)
    net = Vit(cfg)
    for block in net.encoder:
        torch.nn.init.zeros_(block.msa.w_q.weight)
        torch.nn.init.zeros_(block.msa.w_k.weight)
    _, maps = net.forward_with_attention(torch.randn(2, 1, 4, 4))
    n, layers = 5, 3
    expected = 0.5 ** layers * torch.eye(n) + (1 - 0.5 ** layers) * torch.full((n, n), 1 / n)
    assert torch.allclose(attention_rollout(maps), expected.expand(2, n, n), atol=1e-6)
    assert torch.allclose(cls_rollout_map(attention_rollout(maps), 2), torch.ones(2, 2, 2))  # every patch equal


def test_rollout_follows_attention_through_the_layers():
    """Layer 1: token 1 takes everything from token 2; layer 2: the class token from token 1. Without the
    skip share, the class token's output comes from token 2 alone."""
    a1, a2 = torch.eye(3), torch.eye(3)
    a1[1] = torch.tensor([0.0, 0.0, 1.0])
    a2[0] = torch.tensor([0.0, 1.0, 0.0])
    r = attention_rollout([a1[None, None], a2[None, None]], residual=0.0)
    assert torch.equal(r[0, 0], torch.tensor([0.0, 0.0, 1.0]))
    half = attention_rollout([a1[None, None], a2[None, None]], residual=0.5)[0, 0]
    assert torch.allclose(half, torch.tensor([0.5, 0.25, 0.25]))  # rows stay distributions


def test_position_similarity_is_a_cosine_matrix():
    pos = torch.randn(1, 5, 6)
    sim = position_similarity(pos)
    assert sim.shape == (4, 4) and torch.allclose(sim.diagonal(), torch.ones(4))
    assert torch.allclose(sim, sim.T) and sim.abs().max() <= 1 + 1e-6


def test_default_vit_and_cnn_are_of_similar_size():
    import yaml

    from tests.conftest import ROOT

    vp = yaml.safe_load((ROOT / "params.yaml").read_text())["vit"]
    m = vp["model"]
    vit = Vit(VitConfig(in_channels=1, num_classes=10, **{k: m[k] for k in ("emb_dim", "num_patch_row", "image_size", "num_blocks", "head", "hidden_dim")}))
    cnn = SmallCnn(1, 10, vp["cnn"]["channels"])
    assert 0.8 < count_parameters(cnn) / count_parameters(vit) < 1.25
