"""Stage `transfer-pretrain`: the backbone the target task starts from.

``transfer.pretrain.weights.source``:
- ``none`` (default, offline): pretrain ``transfer.model`` on a *source* task, scikit-learn's digits
  ``pretrain.digits`` (0-4), which the target task (5-9) never sees; random ``train_per_class`` /
  ``val_per_class`` images per digit, the same transforms as the target;
- ``url``: download published weights (torchvision's VGG16 ImageNet file in the course profile),
  refused unless the sha256 matches (torchvision's 8-digit prefix will do); ``path``: a local file.
  The file's keys and shapes must fit ``transfer.model.arch`` (built with ``weights=None``) before it
  is accepted; it is then copied verbatim into this stage's output.

Outputs: ``backbone.pth`` (a plain state dict, loadable with ``weights_only=True``), ``backbone.json``
(architecture, its sha256, the class names of its head: the source digits, or ImageNet's 1,000
categories from torchvision's weights metadata), ``metrics.json`` and ``history.csv``. DVC caches
them: changing a target param (``transfer.data``, ``transfer.train``…) never reruns this stage.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path

import torch

from stages.core.digits import load_embedded_uint8 as embedded_digits
from stages.core.errors import DataError
from stages.core.io import sha256_file
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.batches import TensorData
from stages.core.training import TrainingRun
from stages.core.weights import fetch_weights, load_pretrained, load_state_dict
from stages.transfer import params
from stages.transfer.images import ImageSet, digit_image, make_transforms, pick_digits, stack
from stages.transfer.nets import ARCHS, build
from stages.transfer.training import KIND, model_args, train_net

log = logging.getLogger(__name__)


def source_digits(transfer_params: params.TransferParams, seed: int):
    """The source task: (classes, train ImageSet, val TensorData) of the pretraining digits."""
    scans, labels = embedded_digits()
    pretrain_params = transfer_params.pretrain
    train_idx, val_idx = pick_digits(labels, pretrain_params.digits,
                                     (pretrain_params.train_per_class, pretrain_params.val_per_class), seed,
                                     "transfer.pretrain (train + val per class)")
    index = {d: i for i, d in enumerate(pretrain_params.digits)}  # digit -> class index
    train_tf, val_tf = make_transforms(transfer_params.transform)
    train = ImageSet([digit_image(scans[i]).convert("RGB") for i in train_idx], [index[int(labels[i])] for i in train_idx], train_tf)
    val = TensorData(stack([digit_image(scans[i]).convert("RGB") for i in val_idx], val_tf),
                     torch.tensor([index[int(labels[i])] for i in val_idx]))
    return [str(d) for d in pretrain_params.digits], train, val


def state_bytes(state: dict) -> bytes:
    """A state dict serialised to bytes (in memory: the bytes do not depend on a file name)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def category_names(arch: str, source: str, num_classes: int) -> list[str]:
    """Class names of a published weights file: torchvision's metadata for the weights whose file name
    matches (``vgg16-397923af.pth`` → ``IMAGENET1K_V1``: ImageNet's 1,000 categories; no download)."""
    import torchvision

    try:
        entries = list(torchvision.models.get_model_weights(arch))
    except (ValueError, KeyError):
        entries = []
    named = [w for w in entries if Path(w.url).name == Path(source).name]
    sized = [w for w in entries if len(w.meta.get("categories") or []) == num_classes]
    for w in named + sized:
        cats = w.meta.get("categories") or []
        if len(cats) == num_classes:
            return list(cats)
    return [str(i) for i in range(num_classes)]


def verified_weights(transfer_params: params.TransferParams) -> tuple[bytes, dict]:
    """Fetch and check published weights; returns the file's bytes and its description.

    Raises:
        DownloadError / IntegrityError: checksum. DataError: not a state dict, or keys/shapes that do
        not fit ``transfer.model.arch``.
    """
    weights_params, arch = transfer_params.pretrain.weights, transfer_params.model.arch
    path = fetch_weights(weights_params)
    state = load_state_dict(path, weights_params.sha256)
    head = ARCHS[arch].head + "weight"
    if head not in state:
        raise DataError(f"{path}: weights do not fit the {arch} architecture; no {head} in the file")
    num_classes = int(state[head].shape[0])
    net = build({**transfer_params.model.model_dump(), "num_classes": num_classes})
    load_pretrained(net, path, sha256=weights_params.sha256)  # every key and shape, the head included
    data = path.read_bytes()
    source = weights_params.url if weights_params.source == "url" else str(path)
    return data, {"origin": weights_params.source, "from": source, "num_classes": num_classes,
                  "classes": category_names(arch, source, num_classes), "tensors": len(state)}


def main(stage: Declared) -> None:
    transfer_params = params.load()
    arch = transfer_params.model.arch
    if transfer_params.pretrain.weights.source != "none":
        data, info = verified_weights(transfer_params)
        meta = {"arch": arch, "head": ARCHS[arch].head, **info}
        metrics = {"origin": info["origin"], "num_classes": info["num_classes"], "tensors": info["tensors"], "epochs": 0}
        with stage.outputs() as out:
            target = out.path(stage.out("backbone.pth"))
            target.write_bytes(data)
            out.json(stage.out("backbone.json"), {**meta, "sha256": sha256_file(target)})
            out.text(stage.out("history.csv"), "epoch\n")
            out.json(stage.out("metrics.json"), metrics)
    else:
        run = TrainingRun(stage, transfer_params.pretrain, kind=KIND)
        classes, train, val = source_digits(transfer_params, run.seed)
        args = model_args(transfer_params.model, classes)
        lr = transfer_params.pretrain.lr_of("net")
        trainer = train_net(run, lambda: build(args), {"features": lr, "hidden": lr, "head": lr}, arch, args, train, val,
                            inputs={"digits": ",".join(classes)},
                            key=transfer_params.model_dump(mode="json", include={"model", "transform"}))
        meta = {"arch": arch, "head": ARCHS[arch].head, "origin": "none", "from": "sklearn.datasets.load_digits",
                "num_classes": len(classes), "classes": classes, "model_args": args}
        metrics = {"origin": "none", "n_train": len(train), "n_val": len(val)}

        def write(out) -> None:  # the backbone as a plain state dict, with its sha256 beside it
            target = out.path(stage.out("backbone.pth"))
            target.write_bytes(state_bytes(trainer.models["net"].state_dict()))
            out.json(stage.out("backbone.json"), {**meta, "sha256": sha256_file(target)})

        run.finish(model=None, extra=metrics, write=write, run_outputs=("backbone.pth",))
    log.info("backbone %s (%s): %s", arch, meta["origin"], ", ".join(f"{k} {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_stage(main)
