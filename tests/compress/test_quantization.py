import pytest
import torch

from stages.compress.nets import CNNConfig, cnn
from stages.compress.quantization import (check_backend, convert_qat, prepare_qat, quantize_static, run_quantized,
                                      saved_bytes)
from tests.compress.sizes import STUDENT


def test_check_backend_accepts_a_supported_engine_and_names_a_missing_one():
    engine = [e for e in torch.backends.quantized.supported_engines if e != "none"][0]
    assert check_backend(engine) == engine
    with pytest.raises(ValueError, match="'tpu-int8' is not supported .*supported: .*known backends"):
        check_backend("tpu-int8")


def test_check_backend_refuses_a_known_backend_this_build_lacks(monkeypatch):
    # supported_engines is a read-only property: torch.backends is replaced for the test's duration
    class FakeQuantized:
        supported_engines = ["qnnpack", "none"]

    class FakeBackends:
        quantized = FakeQuantized

    monkeypatch.setattr(torch, "backends", FakeBackends)
    with pytest.raises(ValueError, match="'x86' is not supported .*supported: qnnpack$"):
        check_backend("x86")


@pytest.mark.parametrize("backend", ["x86", "qnnpack"])
def test_static_int8_model_runs_agrees_with_the_float_net_and_is_smaller(backend):
    if backend not in torch.backends.quantized.supported_engines:
        pytest.skip(f"{backend} not in this build")
    torch.manual_seed(0)
    net = cnn(STUDENT).eval()
    x = torch.rand(64, 1, 8, 8)
    q = quantize_static(net, x, backend)
    out = run_quantized(q, x)
    assert out.shape == (64, 10) and out.dtype == torch.float32
    with torch.no_grad():
        ref = net(x)
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()  # int8 rounding, not a different function
    assert saved_bytes(q) * 3.5 < saved_bytes(net)
    assert any("quantized" in type(m).__module__ for m in q.modules())
    with pytest.raises(ValueError, match="not supported"):
        quantize_static(net, x, "nope")


def test_qat_model_trains_then_converts_to_int8():
    torch.manual_seed(0)
    net = cnn(CNNConfig((2, 4, 4)))
    model = prepare_qat(net, "x86")
    assert model.training and any("FakeQuantize" in type(m).__name__ for m in model.modules())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    q = convert_qat(model)
    assert model.training  # converted a copy
    assert run_quantized(q, x).shape == (16, 10)


def test_int8_checkpoint_round_trips_and_a_corrupted_one_is_one_line(tmp_path):
    from stages.compress.nets import as_args
    from stages.compress.quantization import INT8_KIND, load_int8
    from stages.core.checkpoint import save_checkpoint
    from stages.core.errors import DataError

    torch.manual_seed(0)
    net = cnn(STUDENT).eval()
    x = torch.rand(32, 1, 8, 8)
    q = quantize_static(net, x, "x86")
    path = tmp_path / "int8.pt"
    save_checkpoint(path, {"kind": INT8_KIND, "model_args": {"net": as_args(STUDENT), "backend": "x86"}, "params": {},
                           "epoch": 0, "models": {"ptq": q.state_dict()}})
    models, backend = load_int8(path)
    assert backend == "x86" and torch.equal(run_quantized(models["ptq"], x), run_quantized(q, x))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="int8.pt"):
        load_int8(path)
