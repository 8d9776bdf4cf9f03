"""Shape tests and smoke runs of the anomaly pipeline: Efficient GAN, the score, AnoGAN's z search."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from stages.anomaly import efficientgan
from stages.anomaly.anogan import search_z
from stages.anomaly.evaluate import efficientgan_scores, figure_indices, roc_auc
from stages.anomaly.nets import Discriminator, EfficientGanConfig, Encoder, Generator
from stages.anomaly.objectives import BiGan, anomaly_score
from stages.anomaly.params import AnoGanParams, AnomalyParams, EfficientGanParams
from stages.anomaly.scores import scores_frame
from stages.core.checkpoint import load_checkpoint, save_checkpoint
from stages.core.errors import DataError
from stages.core.gan_nets import GanConfig, build
from stages.core.training import TrainingRun
from tests.conftest import ROOT
from tests.gan.smoke import smoke_params

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_params_yaml_anomaly_section_validates():
    AnomalyParams.model_validate(PARAMS["anomaly"])


@pytest.mark.parametrize("size", [16, 28, 32])
def test_efficientgan_shapes(size):
    cfg = EfficientGanConfig(image_size=size, z_dim=6, channels=8)
    g, e, d = Generator(cfg), Encoder(cfg), Discriminator(cfg)
    x = g(torch.randn(3, 6))
    assert x.shape == (3, 1, size, size) and x.abs().max() <= 1
    z = e(x)
    assert z.shape == (3, 6)
    assert d(x, z).shape == (3,) and d.features(x, z).shape == (3, 16 * 8)


def test_efficientgan_config_refuses_bad_size():
    with pytest.raises(AssertionError, match="multiple of 4"):
        EfficientGanConfig(image_size=30)


def test_anomaly_score_weights_residual_and_discrimination():
    x, fake = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    fx, ff = torch.zeros(2, 3), torch.full((2, 3), 2.0)
    parts = anomaly_score(x, fake, fx, ff, lam=0.1)
    assert torch.allclose(parts["residual"], torch.tensor([4.0, 4.0]))
    assert torch.allclose(parts["discrimination"], torch.tensor([6.0, 6.0]))
    assert torch.allclose(parts["score"], torch.tensor([0.9 * 4 + 0.1 * 6] * 2))
    with pytest.raises(AssertionError, match="differ in shape"):
        anomaly_score(x, fake[:1], fx, ff, 0.1)


def test_bigan_objective_steps_give_finite_losses():
    cfg = EfficientGanConfig(16, 4, 8)
    obj = BiGan(Generator(cfg), Encoder(cfg), Discriminator(cfg), 4)
    assert [n for n, _ in obj.steps()] == ["d", "g", "e"]
    real = torch.rand(4, 1, 16, 16) * 2 - 1
    for _, fn in obj.steps():
        loss = fn(real)
        assert loss.shape == () and torch.isfinite(loss)


def test_anogan_search_lowers_the_score_and_keeps_shapes():
    torch.manual_seed(0)
    g, d = build("dcgan", GanConfig(16, 4, 8).as_dict())
    g.eval().requires_grad_(False)
    d.eval().requires_grad_(False)
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    one = search_z(g, d, x, AnoGanParams(steps=1, lr=0.05), 0.1, seed=0)
    many = search_z(g, d, x, AnoGanParams(steps=20, lr=0.05), 0.1, seed=0)
    assert many["z"].shape == (3, 4) and many["reconstruction"].shape == x.shape
    assert many["score"].sum() < one["score"].sum()
    frame = scores_frame(np.array([7, 8, 2]), np.array([False, False, True]), many)
    assert list(frame.columns) == ["index", "label", "anomalous", "score", "residual", "discrimination"]
    with pytest.raises(AssertionError, match="px"):
        search_z(g, d, torch.zeros(1, 1, 32, 32), AnoGanParams(steps=1, lr=0.1), 0.1, seed=0)


def test_roc_auc_and_its_refusal_of_one_class():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    with pytest.raises(DataError, match="both normal and anomalous"):
        roc_auc(np.array([1, 1]), np.array([0.1, 0.2]))


def test_figure_indices_take_the_first_of_each_digit():
    labels = np.array([7, 7, 7, 8, 8, 2, 2, 2])
    assert figure_indices(labels, 2).tolist() == [0, 1, 3, 4, 5, 6]


def test_efficientgan_smoke_training_checkpoint_and_scores(tmp_path):
    p = EfficientGanParams(**smoke_params(PARAMS)["anomaly"]["efficientgan"])
    run = TrainingRun("anomaly-efficientgan", p, kind="efficientgan", device="cpu", seed=0)
    images = torch.rand(32, 1, 16, 16) * 2 - 1
    trainer = run.build(**efficientgan.efficientgan_parts(p, 16), data=images)
    history = trainer.fit(images)
    assert [r["epoch"] for r in history] == list(range(1, p.epochs + 1))
    assert {"loss_d", "loss_g", "loss_e"} <= set(history[-1])
    save_checkpoint(tmp_path / "m.pt", trainer.checkpoint())
    from stages.anomaly.evaluate import load_efficientgan

    g, e, d = load_efficientgan(tmp_path / "m.pt", torch.device("cpu"))
    out = efficientgan_scores(g, e, d, torch.zeros(5, 1, 16, 16), 0.1)
    assert out["score"].shape == (5,) and out["reconstruction"].shape == (5, 1, 16, 16)
    assert load_checkpoint(tmp_path / "m.pt")["kind"] == "efficientgan"
