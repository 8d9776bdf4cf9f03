"""Published weights for the transfer pipeline: a small torchvision architecture's state dict (random
init, made here) served from 127.0.0.1 with its sha256, fetched, verified, matched, loaded with a new head."""
import hashlib
import io
import json

import pytest
import torch

from stages.core.errors import DataError, DownloadError, IntegrityError
from stages.core.params import parse_params
from stages.transfer.nets import build
from stages.transfer.params import TransferParams
from stages.transfer.pretrain import verified_weights
from stages.transfer.training import load_backbone
from tests.conftest import ROOT, serve_directory

ARCH = "mobilenet_v3_small"
FILE = "mobilenet_v3_small-047dcff4.pth"  # torchvision's file name: its metadata names the 1,000 classes


def transfer_params(**weights) -> TransferParams:
    section = parse_params((ROOT / "params.yaml").read_text())["transfer"]
    section["model"]["arch"] = ARCH
    section["pretrain"]["weights"].update(weights)
    return TransferParams.model_validate(section)


def state_bytes(net) -> bytes:
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def published():
    torch.manual_seed(0)
    data = state_bytes(build({"arch": ARCH, "num_classes": 1000, "width": 0, "hidden": 0}))
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(published, tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / FILE).write_bytes(published[0])
    with serve_directory(tmp_path / "site") as url:
        yield f"{url}/{FILE}"


def test_fetched_by_url_with_torchvision_prefix_then_loaded_with_a_new_head(published, served, tmp_path):
    data, digest = published
    got, info = verified_weights(transfer_params(source="url", url=served, sha256=digest[:8]))
    assert got == data
    assert info["num_classes"] == 1000 and info["classes"][:2] == ["tench", "goldfish"]  # torchvision's meta, no download
    (tmp_path / "backbone.pth").write_bytes(got)  # as transfer-pretrain writes it
    (tmp_path / "backbone.json").write_text(json.dumps({"arch": ARCH, "sha256": digest}))
    net = load_backbone(build({"arch": ARCH, "num_classes": 2, "width": 0, "hidden": 0}), ARCH,
                        tmp_path / "backbone.pth", tmp_path / "backbone.json")
    source = torch.load(io.BytesIO(data), weights_only=True)
    assert torch.equal(net.state_dict()["features.0.0.weight"], source["features.0.0.weight"])
    assert net.state_dict()["classifier.3.weight"].shape == (2, 1024)  # the new head keeps its own init
    (tmp_path / "backbone.json").write_text(json.dumps({"arch": ARCH, "sha256": "0" * 64}))
    with pytest.raises(IntegrityError, match="backbone.pth: sha256 is"):
        load_backbone(build({"arch": ARCH, "num_classes": 2, "width": 0, "hidden": 0}), ARCH,
                      tmp_path / "backbone.pth", tmp_path / "backbone.json")


def test_wrong_checksum_refused_and_nothing_cached(served, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch"):
        verified_weights(transfer_params(source="url", url=served, sha256="0" * 8))
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob(FILE))


def test_weights_of_another_architecture_are_named(tmp_path):
    other = tmp_path / "small.pth"
    other.write_bytes(state_bytes(build({"arch": "vgg_small", "num_classes": 1000, "width": 4, "hidden": 8})))
    with pytest.raises(DataError, match=r"small.pth: weights do not fit the MobileNetV3 architecture; .* missing"):
        verified_weights(transfer_params(source="path", path=str(other)))
    p = transfer_params(source="path", path=str(other))
    vgg = TransferParams.model_validate({**p.model_dump(mode="json"), "model": {"arch": "vgg_small", "width": 8, "hidden": 8}})
    with pytest.raises(DataError, match=r"small.pth: weights do not fit the SmallVGG architecture; .*shape differs"):
        verified_weights(vgg)


def test_nan_pretrained_weights_are_refused_naming_the_file_and_the_key(published, tmp_path):
    state = torch.load(io.BytesIO(published[0]), weights_only=True)
    state["features.0.0.weight"][0, 0, 0, 0] = float("nan")
    buf = io.BytesIO()
    torch.save(state, buf)
    (tmp_path / "nan.pth").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"nan.pth: tensor 'features.0.0.weight' holds 1 non-finite value\(s\) \(NaN or inf\)"):
        verified_weights(transfer_params(source="path", path=str(tmp_path / "nan.pth")))
