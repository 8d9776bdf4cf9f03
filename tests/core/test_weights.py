"""Pretrained weights: fetched with a checksum (full or torchvision's prefix), keys matched first."""
import hashlib
import io

import pytest
import torch
from torch import nn

from stages.core.errors import DataError, DownloadError, IntegrityError
from stages.core.weights import WeightsParams, fetch_weights, load_pretrained, load_state_dict
from tests.conftest import serve_directory


def net(classes: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, classes))


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_CACHE", str(tmp_path / "cache"))
    site = tmp_path / "site"
    site.mkdir()
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(net(10).state_dict(), buf)
    (site / "net-abc.pth").write_bytes(buf.getvalue())
    with serve_directory(site) as url:
        yield f"{url}/net-abc.pth", hashlib.sha256(buf.getvalue()).hexdigest(), tmp_path


@pytest.mark.parametrize("digits", [64, 8])
def test_url_weights_verified_then_loaded_with_a_new_head(served, digits):
    url, digest, _ = served
    path = fetch_weights(WeightsParams(source="url", url=url, sha256=digest[:digits]), progress=False)
    model = load_pretrained(net(3), path, sha256=digest, skip=("3.",))
    assert torch.equal(model[0].weight, load_state_dict(path)["0.weight"])
    assert model[3].weight.shape == (3, 144)  # the replaced head keeps its own shape


@pytest.mark.parametrize("digits", [64, 8])
def test_wrong_checksum_is_refused_and_nothing_kept(served, digits):
    url, _, tmp = served
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_weights(WeightsParams(source="url", url=url, sha256="0" * digits), progress=False)
    assert not any(p.is_file() for p in (tmp / "cache").rglob("net-abc.pth"))


def test_local_file_checked_and_architecture_mismatch_named(served, tmp_path):
    url, digest, _ = served
    path = fetch_weights(WeightsParams(source="url", url=url, sha256=digest), progress=False)
    with pytest.raises(IntegrityError, match="sha256 is"):
        fetch_weights(WeightsParams(source="path", path=str(path), sha256="1" * 64))
    with pytest.raises(DataError, match=r"net-abc.pth: weights do not fit .* shape differs .*3.weight \(10, 144\) vs \(3, 144\)"):
        load_pretrained(net(3), path)
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(DataError, match=r"4 missing: 1.bias, 1.weight, 2.bias, 2.weight; 2 unexpected: 3.bias, 3.weight"):
        load_pretrained(other, path, skip=())


def test_not_a_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"w.pth: not a readable PyTorch weights file \(UnpicklingError: Unsupported operand 110\)\. Use a state dict"):
        load_state_dict(bad)
    with pytest.raises(ValueError, match="sha256"):
        WeightsParams(source="url", url="http://x/w.pth")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_file_and_the_key(tmp_path, bad):
    state = net(3).state_dict()
    state["3.weight"][0, :2] = bad
    state["0.bias"][1] = bad
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(DataError, match=r"w.pth: tensor '0.bias' holds 1 non-finite value\(s\) \(NaN or inf\) of 4; "
                                        r"1 other tensor\(s\) too; weights like these train to NaN"):
        load_pretrained(net(3), tmp_path / "w.pth")
    state = net(3).state_dict()
    torch.save({**state, "num_batches_tracked": torch.tensor(3)}, tmp_path / "ok.pth")  # integer buffers are not checked
    assert set(load_state_dict(tmp_path / "ok.pth")) == set(state) | {"num_batches_tracked"}


def test_large_finite_weights_whose_sum_overflows_are_accepted():
    """require_finite sums each tensor first (one pass); a sum that overflows to inf is checked value by value."""
    from stages.core.weights import require_finite

    require_finite({"w": torch.full((4,), 3e38), "h": torch.full((8,), 60000.0, dtype=torch.float16)}, "big.pth")
    with pytest.raises(DataError, match=r"big.pth: tensor 'h' holds 1 non-finite"):
        require_finite({"w": torch.full((4,), 3e38), "h": torch.tensor([1.0, float("-inf")], dtype=torch.float16)}, "big.pth")


class RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


class Custom:
    pass


@pytest.mark.parametrize("payload, asked", [(RunsCode(), "print"), (Custom(), "tests.core.test_weights.Custom")])
def test_a_pickle_with_objects_is_refused_ending_with_our_advice_never_torchs(tmp_path, capsys, payload, asked):
    from stages.core.checkpoint import load_checkpoint

    torch.save({"w": torch.zeros(2), "x": payload}, tmp_path / "evil.pt")
    for load, ending in ((load_state_dict, "Use a state dict saved with torch.save(model.state_dict(), path), from a source you trust."),
                         (load_checkpoint, "Point to a checkpoint this project's training stages wrote.")):
        with pytest.raises(DataError) as err:
            load(tmp_path / "evil.pt")
        message = str(err.value)
        assert message.startswith(f"{tmp_path / 'evil.pt'}: refused: holds a pickled Python object ({asked})")
        assert message.endswith(ending) and "\n" not in message
        assert "weights_only" not in message and "add_safe_globals" not in message
    assert "this must never run" not in capsys.readouterr().out
