"""Pretrained weights for the ViT: a torchvision state dict served on 127.0.0.1, checked, mapped, loaded."""
from __future__ import annotations

import hashlib
import io

import pytest
import torch
from torchvision.models import VisionTransformer

from stages.core.errors import DataError, DownloadError
from stages.core.weights import WeightsParams, fetch_weights, load_state_dict
from stages.vit.model import Vit, VitConfig, load_backbone
from tests.conftest import serve_directory

TINY = dict(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32)


def tiny_config(**kw) -> VitConfig:
    return VitConfig(**{"in_channels": 3, "num_classes": 10, "emb_dim": 16, "num_patch_row": 4, "image_size": 16,
                        "num_blocks": 2, "head": 2, "hidden_dim": 32, "qkv_bias": True, "ln_eps": 1e-6, **kw})


def tiny_weights() -> bytes:
    torch.manual_seed(1)
    buf = io.BytesIO()
    torch.save(VisionTransformer(**TINY, num_classes=1000).state_dict(), buf)  # ImageNet's 1000 classes
    return buf.getvalue()


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    data = tiny_weights()
    (site / "tiny_vit-0000.pth").write_bytes(data)
    with serve_directory(site) as url:
        yield f"{url}/tiny_vit-0000.pth", hashlib.sha256(data).hexdigest()


def test_served_torchvision_weights_load_with_a_new_head(served):
    url, digest = served
    path = fetch_weights(WeightsParams(source="url", url=url, sha256=digest[:8]), progress=False)
    state = load_state_dict(path, digest[:8])
    net = Vit(tiny_config())
    head_before = net.mlp_head[1].weight.clone()
    assert load_backbone(net, state, str(path)) == len(net.state_dict()) - 2
    assert torch.equal(net.encoder[1].msa.w_v.weight, state["encoder.layers.encoder_layer_1.self_attention.in_proj_weight"][32:])
    assert torch.equal(net.mlp_head[1].weight, head_before) and net.mlp_head[1].weight.shape == (10, 16)


def test_wrong_checksum_is_refused(served):
    url, _ = served
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_weights(WeightsParams(source="url", url=url, sha256="deadbeef"), progress=False)


@pytest.mark.parametrize("kw, msg", [({"num_blocks": 3}, r"weights do not fit the Vit architecture; 16 missing: encoder\.2\."),
                                     ({"emb_dim": 32, "hidden_dim": 32}, r"shape differs \(file vs model\)"),
                                     ({"qkv_bias": False}, r"unexpected: encoder\.0\.msa\.w_k\.bias")])
def test_weights_for_another_architecture_are_refused_with_the_keys(served, kw, msg):
    url, digest = served
    path = fetch_weights(WeightsParams(source="url", url=url, sha256=digest), progress=False)
    with pytest.raises(DataError, match=msg):
        load_backbone(Vit(tiny_config(**kw)), load_state_dict(path), str(path))


def course_vit() -> dict:
    """params.yaml's ``vit:`` section with the course profile applied."""
    import yaml

    from pipelines.profiles import apply_overrides, overrides
    from tests.conftest import ROOT

    return apply_overrides(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides("course", ["vit"], ROOT))["vit"]


def test_the_course_profile_fine_tunes_torchvisions_vit_b_16():
    """The course's fine-tune params fit torchvision's vit_b_16 key for key and shape for shape (its
    ImageNet head left out), so the real weights file would load; no download needed to check."""
    from torchvision.models import vit_b_16

    from stages.core.weights import match_state_dict
    from stages.vit.model import HEAD_PREFIX, from_torchvision

    course = course_vit()["finetune"]
    model, weights = course["model"], course["weights"]
    assert weights["source"] == "url" and weights["url"].endswith("vit_b_16-c867db91.pth") and weights["sha256"] == "c867db91"
    cfg = VitConfig(in_channels=3, num_classes=10, dropout=model["dropout"],
                    **{k: model[k] for k in ("emb_dim", "num_patch_row", "image_size", "num_blocks", "head", "hidden_dim",
                                             "qkv_bias", "ln_eps")})
    tv = vit_b_16(weights=None)
    assert tv.encoder.layers[0].ln_1.eps == cfg.ln_eps
    matched = match_state_dict(Vit(cfg), from_torchvision(tv.state_dict()), "vit_b_16", skip=(HEAD_PREFIX,))
    assert len(matched) == len(tv.state_dict()) - 2 + 2 * 2 * 12  # in_proj weight and bias split in three, per block


def test_the_course_profile_trains_the_books_vit_from_scratch_on_cifar10():
    """In the same step the course profile sets vit.model to the book's configuration (VitConfig's
    defaults, ghmagazine/vit_book ch2/vit.py) and the data to CIFAR-10."""
    import dataclasses

    course = course_vit()
    book = {f.name: f.default for f in dataclasses.fields(VitConfig) if f.name not in ("in_channels", "num_classes")}
    assert {k: course["model"][k] for k in book} == book
    assert course["data"]["source"] == "url" and course["data"]["url"].endswith("cifar-10-python.tar.gz")


def test_fine_tuning_trains_the_backbone_at_a_fraction_of_the_heads_lr():
    from stages.vit.training import param_groups

    net = Vit(tiny_config())
    body, head = param_groups(net, 1e-3, 0.03)
    assert head["lr"] == 1e-3 and body["lr"] == 1e-3 * 0.03
    assert [p.shape for p in head["params"]] == [(10, 16), (10,)]
    assert len(body["params"]) + 2 == len(list(net.parameters()))
    (scratch,) = param_groups(net, 1e-3, None)
    assert scratch["lr"] == 1e-3 and len(scratch["params"]) == len(list(net.parameters()))
