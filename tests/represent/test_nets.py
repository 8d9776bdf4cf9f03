"""The encoder's shapes (cnn and ResNet-18, one and three channels), every method trained in process
for a few steps (each loss falls), views picked as documented, and a corrupted checkpoint refused
with one line."""
import pytest
import torch

from stages.core.errors import DataError
from stages.core.training import TrainingRun
from stages.represent.methods import METHODS, method_parts, one_view, two_views
from stages.represent.nets import KIND, build, encoder_args, load_encoders
from stages.represent.params import RepresentParams
from stages.core.params import validate_section
from tests.conftest import committed_params_with


@pytest.mark.parametrize("arch, channels, px", [("cnn", 1, 24), ("cnn", 3, 32), ("resnet18", 3, 64), ("resnet18", 1, 32)])
def test_the_encoder_gives_a_representation_an_embedding_and_logits(arch, channels, px):
    net = build(encoder_args(arch, 8, 16, channels, classes=10)).eval()
    x = torch.rand(2, channels, px, px)
    rep = net.represent(x)
    assert rep.shape == (2, 512 if arch == "resnet18" else 32)
    assert net(x).shape == (2, 16) and net.classifier(net(x)).shape == (2, 10)
    assert build(encoder_args(arch, 8, 16, channels)).classifier is None
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        encoder_args("vgg", 8, 16, 1)


def test_one_and_two_views_pick_views_of_the_same_image_and_two_different_ones():
    views = torch.arange(6 * 4).view(6, 4, 1, 1, 1).expand(6, 4, 1, 2, 2)  # view v of image i holds 4i + v
    torch.manual_seed(0)
    a, b = two_views(views)
    ia, va = a[:, 0, 0, 0] // 4, a[:, 0, 0, 0] % 4
    ib, vb = b[:, 0, 0, 0] // 4, b[:, 0, 0, 0] % 4
    assert (ia == torch.arange(6)).all() and (ib == ia).all() and (va != vb).all()
    assert (one_view(views)[:, 0, 0, 0] // 4 == torch.arange(6)).all()


def test_every_method_trains_in_process_and_its_loss_falls(tmp_path):
    p = validate_section(committed_params_with("represent.seeds", 1), "represent", RepresentParams)
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 4
    base = (labels.view(-1, 1, 1, 1, 1) * 60 + torch.randint(0, 30, (64, 3, 1, 12, 12), generator=g)).to(torch.uint8)
    summary = {"classes": list("abcd"), "channels": 1, "mean": [0.4], "std": [0.3]}
    for method in METHODS:
        recipe = getattr(p, method).model_copy(update={"epochs": 6, "batch_size": 32, "lr": 1e-2})
        parts = method_parts(method, recipe, p.encoder.model_copy(update={"width": 4, "dim": 8}), 1, 0, base, labels, summary)
        trainer = TrainingRun(f"represent-{method}", recipe, kind=KIND, device="cpu", seed=0).build(**parts)
        trainer.fit(parts["data"])
        losses = [row[f"loss_{method}_seed0"] for row in trainer.history]
        assert losses[-1] < losses[0], (method, losses)


def test_a_corrupted_checkpoint_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=str(bad)) as err:
        load_encoders(bad)
    assert "\n" not in str(err.value)
