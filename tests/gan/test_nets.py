"""Shape tests for every network and objective of the gan pipeline."""
from __future__ import annotations

import pytest
import torch

from stages.core.gan_nets import Discriminator, GanConfig, Generator, SelfAttention, build
from stages.gan.objectives import BCEGan, HingeGan


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("attention", [False, True])
def test_generator_and_discriminator_shapes(size, attention):
    cfg = GanConfig(image_size=size, z_dim=5, channels=8)
    g, d = Generator(cfg, attention), Discriminator(cfg, attention)
    images, maps = g.forward_with_attention(torch.randn(3, 5))
    assert images.shape == (3, 1, size, size) and images.abs().max() <= 1
    assert d(images).shape == (3,)
    assert d.features(images).shape == (3, cfg.widths()[0], 4, 4)
    if attention:  # after the last two hidden layers: size/4 and size/2
        assert [m.shape for m in maps] == [(3, (size // 4) ** 2, (size // 4) ** 2), (3, (size // 2) ** 2, (size // 2) ** 2)]
    else:
        assert maps == []


def test_course_networks_at_64():
    cfg = GanConfig()  # the course's 64x64, z 20, 64 channels
    assert cfg.widths() == [512, 256, 128, 64]
    g = Generator(cfg)
    assert g.blocks[0][0].in_channels == 20 and g.blocks[0][0].out_channels == 512


def test_gan_config_refuses_bad_size():
    with pytest.raises(AssertionError, match="power of two"):
        GanConfig(image_size=24)


def test_self_attention_rows_sum_to_one_and_start_as_identity():
    att = SelfAttention(16)
    x = torch.randn(2, 16, 4, 4)
    out, maps = att(x)
    assert out.shape == x.shape and maps.shape == (2, 16, 16)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 16))
    assert torch.equal(out, x)  # gamma starts at 0


def test_spectral_norm_only_in_sagan():
    g_dc, _ = build("dcgan", GanConfig(16, 4, 8).as_dict())
    g_sa, d_sa = build("sagan", GanConfig(16, 4, 8).as_dict())
    assert not any("parametrizations" in k for k in g_dc.state_dict())
    assert any("parametrizations.weight.original" in k for k in d_sa.state_dict())
    with pytest.raises(AssertionError, match="kind"):
        build("wgan", GanConfig(16, 4, 8).as_dict())


@pytest.mark.parametrize("objective", [BCEGan, HingeGan])
def test_objectives_give_finite_scalars(objective):
    cfg = GanConfig(16, 4, 8)
    g, d = Generator(cfg), Discriminator(cfg)
    obj = objective(g, d, 4)
    real = torch.rand(4, 1, 16, 16) * 2 - 1
    names = [n for n, _ in obj.steps()]
    assert names == ["d", "g"]
    for _, fn in obj.steps():
        loss = fn(real)
        assert loss.shape == () and torch.isfinite(loss)
