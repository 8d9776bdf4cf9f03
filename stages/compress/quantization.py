"""Int8 quantisation on the CPU: post-training static quantisation (PTQ) and quantisation-aware
training (QAT), with torch's eager-mode API (``torch.ao.quantization``).

**Which API, and why** (torch 2.14, checked 2026-12): torch itself still ships only the eager-mode
and FX flows of ``torch.ao.quantization``; both warn on import/use that they are deprecated
("torch.ao.quantization is deprecated and will be removed in 2.10 … migrate to torchao"), and the
quantised-tensor dtypes (``torch.quint8``…) warn that they will be removed. The export-based pt2e
flow (``prepare_pt2e``/``convert_pt2e``, ``X86InductorQuantizer``) has left torch
(``torch.ao.quantization.quantize_pt2e`` no longer exists) for the separate ``torchao`` package,
which is not installed in this project's environment (torchao 0.18.0 is on the package index). So
this module uses the one flow torch 2.14 still runs, keeps its deprecation warnings to itself
(:func:`_quiet`), and is the one place to change when the project adds torchao.

PTQ: the float net is wrapped in quant/dequant stubs, each (conv, ReLU) pair fused, observers record
activation ranges on calibration images from the **training** split, and :func:`convert` swaps in
int8 kernels (per-channel symmetric int8 weights, uint8 activations: the backend's default qconfig).
QAT: the same, but with fake-quantisation inserted before training, so the net fine-tunes under the
rounding it will meet, then converts.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import io
import warnings

from .nets import build, fusable_groups

BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")
INT8_KIND = "compress-int8"  # the checkpoint kind of the int8 models


@contextlib.contextmanager
def _quiet():
    """torch.ao.quantization's deprecation warnings silenced (see the module docstring), nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*reduce_range will be deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*deprecated.*")
        warnings.filterwarnings("ignore", message=r".*TypedStorage is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*must run observer before calling calculate_qparams.*")
        yield


def check_backend(backend: str) -> str:
    """``backend`` when this torch build on this CPU runs it, else one ValueError naming it and the
    supported ones (``torch.backends.quantized.supported_engines``)."""
    import torch

    supported = [e for e in torch.backends.quantized.supported_engines if e != "none"]
    if backend not in supported:
        known = "" if backend in BACKENDS else f" (known backends: {', '.join(BACKENDS)})"
        raise ValueError(f"quantisation backend {backend!r} is not supported by this torch build on this CPU; "
                         f"supported: {', '.join(supported) or 'none'}{known}")
    return backend


def _wrapped(net, backend: str, qat: bool):
    """A copy of ``net`` ready to prepare: inside quant/dequant stubs, its (conv, BN, ReLU) runs
    fused, its qconfig set. A net with its own stubs and ``fuse_model`` (torchvision's quantisable
    ResNet) uses them."""
    import torch.ao.quantization as tq

    check_backend(backend)
    model = copy.deepcopy(net)
    if not hasattr(model, "fuse_model"):
        model = tq.QuantWrapper(model)  # .quant → .module → .dequant
    model.train(qat)  # QAT fusion keeps batch norm trainable; PTQ folds it
    if hasattr(model, "fuse_model"):
        model.fuse_model(is_qat=qat)
    else:
        groups = [[f"module.{n}" for n in g] for g in fusable_groups(net)]
        fuse = tq.fuse_modules_qat if qat else tq.fuse_modules
        model = fuse(model, groups) if groups else model
    model.qconfig = tq.get_default_qat_qconfig(backend) if qat else tq.get_default_qconfig(backend)
    return model


def quantize_static(net, calibration, backend: str = "x86", batch_size: int = 256):
    """Post-training static int8 quantisation of a float ``net`` (left as it is).

    Args:
        calibration: (N, C, S, S) float images from the training split: the activation ranges.
        backend: a quantised engine (:func:`check_backend`); also made torch's current engine.

    Returns:
        The int8 model (eval mode), taking and returning float tensors.
    """
    import torch
    import torch.ao.quantization as tq

    with _quiet():
        model = _wrapped(net, backend, qat=False)
        torch.backends.quantized.engine = backend
        prepared = tq.prepare(model)
        with torch.no_grad():
            for i in range(0, len(calibration), batch_size):
                prepared(torch.as_tensor(calibration[i:i + batch_size]))
        return tq.convert(prepared).eval()


def prepare_qat(net, backend: str = "x86"):
    """A copy of a float ``net`` with fake-quantisation inserted (train mode), to fine-tune with any
    objective (e.g. core's ``Classification``), then :func:`convert_qat`."""
    import torch
    import torch.ao.quantization as tq

    with _quiet():
        model = _wrapped(net, backend, qat=True)
        torch.backends.quantized.engine = backend
        return tq.prepare_qat(model)


def convert_qat(model):
    """The int8 model (eval mode) of a QAT-trained ``model`` (left as it is)."""
    import torch.ao.quantization as tq

    with _quiet():
        return tq.convert(copy.deepcopy(model).cpu().eval()).eval()


def int8_model(args: dict, backend: str, state_dict: dict):
    """The int8 model of a float net's ``model_args`` with the quantised ``state_dict`` that
    :func:`quantize_static` or :func:`convert_qat` produced (the same structure, then its weights,
    scales and zero points loaded: what a saved int8 model is read back with)."""
    import torch
    import torch.ao.quantization as tq

    with _quiet():
        model = _wrapped(build(args), backend, qat=False)
        torch.backends.quantized.engine = backend
        model = tq.convert(tq.prepare(model)).eval()
        # a saved state dict loses its per-module versions (the ``_metadata`` attribute); without them
        # quantised modules take it for a legacy layout: give it the versions of the same structure
        state = collections.OrderedDict(state_dict)
        state._metadata = model.state_dict()._metadata
        model.load_state_dict(state)
        return model


def load_int8(path) -> tuple[dict, str]:
    """The int8 models of a ``compress-int8`` checkpoint by name, and their backend.

    Raises:
        DataError: one line naming the file (missing, corrupted, not ours, another kind).
        ValueError: its backend does not run on this CPU (:func:`check_backend`).
    """
    from stages.core.checkpoint import load_checkpoint

    with _quiet():
        ckpt = load_checkpoint(path, kind=INT8_KIND)
    backend = check_backend(ckpt["model_args"]["backend"])
    return {n: int8_model(ckpt["model_args"]["net"], backend, sd) for n, sd in ckpt["models"].items()}, backend


def run_quantized(model, x, batch_size: int = 512):
    """(N, classes) float logits of an int8 ``model`` (warnings of the deprecated dtypes silenced)."""
    import torch

    with _quiet(), torch.no_grad():
        return torch.cat([model(torch.as_tensor(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])


def saved_bytes(model) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the model's size on disk."""
    import torch

    buf = io.BytesIO()
    with _quiet():
        torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes
