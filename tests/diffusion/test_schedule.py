"""Algorithms 1 and 2 and the DDIM update, checked against diffusers' schedulers (a test-only peer)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stages.diffusion.schedule import (cosine_schedule, ddim_coefficients, ddim_sample, ddim_step, ddpm_loss, ddpm_mean,
                                       ddpm_sample, ddpm_step, linear_schedule, make_schedule, posterior_variance, q_sample,
                                       step_sequence)

T = 1000


def DDPMScheduler(**config):  # noqa: N802 - diffusers' class, imported by the first test that builds one:
    from diffusers import DDPMScheduler as peer  # importing diffusers is 2.3 s of CPU in every pytest worker

    return peer(**config)


def DDIMScheduler(**config):  # noqa: N802 - as above
    from diffusers import DDIMScheduler as peer

    return peer(**config)


@pytest.fixture(scope="module")
def sched():
    return linear_schedule(1e-4, 0.02, T)


def test_alpha_bar_matches_diffusers(sched):
    peer = DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    assert torch.allclose(sched.alpha_bar.float(), peer.alphas_cumprod, rtol=1e-5, atol=1e-7)
    assert sched.betas[0] == pytest.approx(1e-4) and sched.betas[-1] == pytest.approx(0.02)
    assert bool((sched.alpha_bar[1:] < sched.alpha_bar[:-1]).all())


@pytest.mark.parametrize("t", [0, 1, 10, 500, 999])
@pytest.mark.parametrize("variance,clip", [("fixed_small", False), ("fixed_large", False), ("fixed_small", True)])
def test_ddpm_step_matches_diffusers_posterior_mean_and_variance(sched, t, variance, clip):
    peer = DDPMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         clip_sample=clip, variance_type=variance)
    peer.set_timesteps(T)
    g = torch.Generator().manual_seed(t)
    x_t, eps = 2 * torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)  # x̂_0 beyond ±1: clipping acts
    peer_out = peer.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))  # the draw diffusers makes
    ours = ddpm_step(sched, x_t, eps, t, noise, variance, clip)
    # diffusers keeps ᾱ in float32: near t = 0, 1 − ᾱ_t loses digits there (ours is float64)
    assert torch.allclose(ours, peer_out, rtol=1e-3, atol=1e-4), (ours - peer_out).abs().max()
    if t > 0:  # the variance alone, and the mean alone (no noise)
        assert posterior_variance(sched, t, variance) == pytest.approx(float(peer._get_variance(t, variance)), rel=1e-3)
        mean = ddpm_mean(sched, x_t, eps, t, clip)
        assert torch.allclose(ours - mean, posterior_variance(sched, t, variance) ** 0.5 * noise, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("steps,clip", [(10, False), (50, False), (50, True)])
def test_ddim_step_matches_diffusers(sched, eta, steps, clip):
    peer = DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         clip_sample=clip, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")
    peer.set_timesteps(steps)
    seq = step_sequence(T, steps, "uniform")  # with clipping: GLIDE's ε re-derived from the clipped x̂_0
    assert sorted(peer.timesteps.tolist()) == seq  # the same uniform sequence
    ab = sched.alpha_bar.tolist()
    g = torch.Generator().manual_seed(steps)
    for i in (len(seq) - 1, len(seq) // 2, 0):  # first step, a middle one, the last (ᾱ_next = 1)
        x_t, eps, noise = (torch.randn(3, 1, 8, 8, generator=g) * k for k in (2, 1, 1))
        t = seq[i]
        peer_out = peer.step(eps, t, x_t, eta=eta, variance_noise=noise, use_clipped_model_output=clip).prev_sample
        ours = ddim_step(x_t, eps, ab[t], ab[seq[i - 1]] if i > 0 else 1.0, eta, noise, clip)
        assert torch.allclose(ours, peer_out, rtol=1e-4, atol=1e-5), (i, (ours - peer_out).abs().max())


def test_q_sample_statistics_at_first_and_last_step(sched):
    x0 = torch.full((4000, 1, 8, 8), 0.7)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    first = q_sample(sched, x0, torch.zeros(len(x0), dtype=torch.long), noise)
    # t = 1: mean √ᾱ_1 x0 ≈ x0, std √β_1 = 0.01
    assert first.mean().item() == pytest.approx(0.7 * (1 - 1e-4) ** 0.5, abs=1e-3)
    assert first.std().item() == pytest.approx(1e-2, rel=0.02)
    last = q_sample(sched, x0, torch.full((len(x0),), T - 1), noise)
    # t = T: ᾱ_T ≈ 4e-5, so x_T ≈ N(0, 1) whatever x0 was
    assert float(sched.alpha_bar[-1]) < 1e-4
    assert last.mean().item() == pytest.approx(0.0, abs=0.01) and last.std().item() == pytest.approx(1.0, abs=0.01)


def test_ddpm_loss_is_the_noise_regression():
    s = linear_schedule(1e-4, 0.02, 50)
    x0 = torch.randn(8, 1, 8, 8)
    perfect = ddpm_loss(lambda x, t: torch.zeros_like(x), s, x0, torch.Generator().manual_seed(1))
    noise_only = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(1).manual_seed(1))
    assert perfect.item() > 0.5  # predicting zero noise costs about E[ε²] = 1
    assert noise_only.shape == x0.shape


def test_ddim_eta0_is_deterministic_given_x_T_and_eta1_is_not(sched):
    net = lambda x, t: 0.1 * x + 0.001 * t.float()[:, None, None, None]  # noqa: E731 (a stand-in ε_θ)
    x_T = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    seq = step_sequence(T, 20, "uniform")
    a = ddim_sample(net, sched, x_T, seq, 0.0, torch.Generator().manual_seed(1))
    b = ddim_sample(net, sched, x_T, seq, 0.0, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    c = ddim_sample(net, sched, x_T, seq, 1.0, torch.Generator().manual_seed(1))
    d = ddim_sample(net, sched, x_T, seq, 1.0, torch.Generator().manual_seed(2))
    assert not torch.equal(c, d)
    assert not torch.equal(a, ddim_sample(net, sched, x_T + 0.1, seq, 0.0))


def test_samplers_count_network_evaluations():
    s = linear_schedule(1e-4, 0.02, 40)
    calls = []

    def net(x, t):
        calls.append(int(t[0]))
        return torch.zeros_like(x)

    x, kept = ddpm_sample(net, s, torch.randn(2, 1, 8, 8), torch.Generator().manual_seed(0), keep=(39, 0))
    assert calls == list(range(39, -1, -1)) and set(kept) == {39, 0}
    calls.clear()
    ddim_sample(net, s, torch.randn(2, 1, 8, 8), step_sequence(40, 8, "uniform"), 0.0)
    assert calls == [35, 30, 25, 20, 15, 10, 5, 0]


def test_step_sequences():
    assert step_sequence(1000, 10, "uniform") == list(range(0, 1000, 100))
    quad = step_sequence(1000, 20, "quadratic")
    assert len(quad) == 20 and quad[0] == 0 and quad == sorted(set(quad)) and quad[-1] <= 800
    assert np.all(np.diff(quad) > 0) and np.diff(quad)[0] < np.diff(quad)[-1]  # denser near t = 0
    for steps, skip, match in ((2000, "uniform", "between 1 and T"), (30, "uniform", "divide T"),
                               (100, "quadratic", "repeats")):
        with pytest.raises(ValueError, match=match):
            step_sequence(1000, steps, skip)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("t", [1, 10, 500, 999])
def test_ddim_eta1_over_every_step_is_algorithm_2(sched, t, clip):
    """DDIM with η = 1 and S = T is DDPM's fixed_small step (the DDIM paper, §4.1), clipped or not. With clipping
    this holds only when ε is re-derived from the clipped x̂_0: keeping the network's ε (as diffusers does by
    default) pairs a clipped x̂_0 with an ε that no longer explains x_t, a different sampler from DDPM's."""
    g = torch.Generator().manual_seed(t)
    x_t, eps, noise = 2 * torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
    x_t, eps, noise = x_t.double(), eps.double(), noise.double()
    ab = sched.alpha_bar.tolist()
    ddim = ddim_step(x_t, eps, ab[t], ab[t - 1], 1.0, noise, clip)
    ddpm = ddpm_step(sched, x_t, eps, t, noise, "fixed_small", clip)
    assert torch.allclose(ddim, ddpm, atol=1e-9), (ddim - ddpm).abs().max()


@pytest.mark.parametrize("eta", [-0.1, 1.5, 5.0])
def test_ddim_coefficients_refuse_eta_outside_0_1(eta):
    """η = 5 once gave c2² < 0, clamped silently to 0: now refused (params bound η to [0, 1] too)."""
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        ddim_coefficients(0.5, 0.9, eta)


def test_cosine_schedule_matches_diffusers_squaredcos_cap_v2():
    ours = cosine_schedule(T)
    peer = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    assert torch.allclose(ours.betas.float(), peer.betas, rtol=1e-4, atol=1e-7)
    assert torch.allclose(ours.alpha_bar.float(), peer.alphas_cumprod, rtol=1e-4, atol=1e-8)
    assert float(ours.betas.max()) == pytest.approx(0.999) and bool((ours.alpha_bar[1:] < ours.alpha_bar[:-1]).all())
    snr = ours.alpha_bar / (1 - ours.alpha_bar)
    assert float(snr[T // 2]) == pytest.approx(1.0, rel=0.05)  # SNR 1 half way, where the linear one is at 0.09
    assert make_schedule("cosine", 1e-4, 0.02, T).alpha_bar.equal(ours.alpha_bar)
    assert make_schedule("linear", 1e-4, 0.02, T).alpha_bar.equal(linear_schedule(1e-4, 0.02, T).alpha_bar)
    with pytest.raises(ValueError, match="unknown β schedule"):
        make_schedule("quadratic", 1e-4, 0.02, T)


def test_ddim_coefficients_limits():
    c1, c2 = ddim_coefficients(0.5, 0.9, 0.0)
    assert c1 == 0 and c2 == pytest.approx(0.1 ** 0.5)
    c1, c2 = ddim_coefficients(0.5, 0.9, 1.0)  # η = 1: c1 is DDPM's posterior std
    assert c1 ** 2 == pytest.approx((1 - 0.5 / 0.9) * (1 - 0.9) / (1 - 0.5))


def test_samplers_recover_the_data_point_under_the_exact_noise_predictor():
    """With one training image x*, the optimal ε_θ(x_t, t) = (x_t − √ᾱ_t x*)/√(1−ᾱ_t) is known: DDIM
    (η = 0, any S) and DDPM must both end at x* from any x_T (a sign error or an off-by-one step would not)."""
    s = linear_schedule(1e-4, 0.02, 200)
    target = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8)
    ab = s.alpha_bar

    def oracle(x, t):
        a = ab[t].to(x.dtype).reshape(-1, 1, 1, 1)
        return (x - a.sqrt() * target) / (1 - a).sqrt()

    x_T = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = target.double()
    for steps in (10, 50):
        out = ddim_sample(oracle, s, x_T, step_sequence(200, steps, "uniform"), 0.0)
        assert torch.allclose(out, target.expand_as(out), atol=1e-6)
    out, _ = ddpm_sample(oracle, s, x_T, torch.Generator().manual_seed(1))
    assert torch.allclose(out, target.expand_as(out), atol=1e-3)


@pytest.mark.parametrize("steps,clip", [(10, True), (50, False), (100, False)])
def test_ddim_eta0_whole_trajectory_matches_diffusers_with_a_network(sched, steps, clip):
    """The whole η = 0 sampler (step sequence, ᾱ_next = 1 at the end, clipping) against diffusers' loop,
    with a real U-Net in the loop so that each step's error feeds the next network call. (With clipping and an
    untrained network, x̂_0 sits at the ±1 boundary early on, where float32 vs float64 flips a sign: S = 10 only.)"""
    from stages.diffusion.unet import UNet, UNetConfig

    torch.manual_seed(0)
    net = UNet(UNetConfig(image_px=8, in_channels=1, ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[4],
                          dropout=0.0)).eval()
    peer = DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         clip_sample=clip, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")
    peer.set_timesteps(steps)
    x_T = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    x = x_T.clone()
    with torch.no_grad():
        for t in peer.timesteps:  # T − T/S, …, 0: diffusers' own order
            x = peer.step(net(x, torch.full((len(x),), int(t))), t, x, eta=0.0, use_clipped_model_output=clip).prev_sample
    ours = ddim_sample(net, sched, x_T, step_sequence(T, steps, "uniform"), 0.0, None, clip)
    # diffusers keeps ᾱ in float32, ours float64: a few 1e-4 after S network calls on outputs of order 1
    assert torch.allclose(ours, x, rtol=1e-3, atol=1e-3), (ours - x).abs().max()
