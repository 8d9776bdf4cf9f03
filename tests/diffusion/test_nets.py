"""Shapes of the U-Net, its time embedding and the judge; FID in the judge's features."""
from __future__ import annotations

import pytest
import torch

from stages.diffusion.quality import Judge, JudgeConfig, class_histogram, fid, judge_probs, validity
from stages.diffusion.unet import UNet, UNetConfig, build, timestep_embedding


def test_timestep_embedding_shape_and_distinct_steps():
    e = timestep_embedding(torch.tensor([0, 1, 999]), 32)
    assert e.shape == (3, 32)
    assert torch.equal(e[0, :16], torch.zeros(16)) and torch.equal(e[0, 16:], torch.ones(16))  # sin 0, cos 0
    assert not torch.allclose(e[1], e[2])
    with pytest.raises(AssertionError, match="even"):
        timestep_embedding(torch.tensor([1]), 7)


@pytest.mark.parametrize("cfg", [
    UNetConfig(image_px=8, in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), dropout=0.0),
    UNetConfig(image_px=16, in_channels=3, ch=8, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(8,), dropout=0.1),
])
def test_unet_maps_images_to_noise_of_the_same_shape(cfg):
    net = UNet(cfg)
    x = torch.randn(3, cfg.in_channels, cfg.image_px, cfg.image_px)
    out = net(x, torch.tensor([0, 10, 99]))
    assert out.shape == x.shape
    assert not torch.allclose(net(x, torch.tensor([0, 0, 0])), net(x, torch.tensor([50, 50, 50])))  # t matters
    again = build(cfg.as_dict())[0]  # a checkpoint's model_args rebuild the same network
    again.load_state_dict(net.state_dict())
    assert torch.equal(again.eval()(x, torch.tensor([1, 2, 3])), net.eval()(x, torch.tensor([1, 2, 3])))


def test_unet_refuses_too_many_levels():
    with pytest.raises(AssertionError, match="cannot be halved"):
        UNet(UNetConfig(image_px=8, in_channels=1, ch=8, ch_mult=(1, 1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(), dropout=0.0))


def test_judge_shapes_fid_validity_histogram():
    torch.manual_seed(0)
    judge = Judge(JudgeConfig(in_channels=1, image_px=8, channels=4, features=6, classes=10)).eval()
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    assert judge(x).shape == (64, 10) and judge.features(x).shape == (64, 6)
    probs = judge_probs(judge, x)
    assert torch.allclose(probs.sum(1), torch.ones(64))
    assert 0 <= validity(probs, 0.9) <= 1 and validity(probs, 1e-9) == 1.0
    assert sum(class_histogram(probs)) == 64 and len(class_histogram(probs)) == 10
    same, shifted = fid(judge, x, x.clone()), fid(judge, x, (x + 0.8).clamp(-1, 1))
    assert abs(same) < 1e-9 and shifted > 1e-5
