"""Stage `vit-finetune`: a pretrained ViT fine-tuned on the split (the course's experiment).

``vit.finetune.weights.source``:
- ``url`` / ``path``: pretrained weights of the architecture ``vit.finetune.model`` (torchvision's
  ``vit_b_16`` in the course profile, or a state dict in this model's own keys), verified by sha256
  (torchvision's 8-digit prefix will do) before ``torch.load(weights_only=True)`` reads them, renamed
  to this ViT's keys, and checked key by key and shape by shape against the configured architecture:
  a file for another architecture is one error naming the keys. The classifier is replaced for this
  dataset's classes and trains at ``vit.finetune.train.lr``; the backbone at ``lr * backbone_lr_scale``.
  The verified file is copied into ``pretrained/`` of the stage's output folder (DVC-tracked, so the
  weights a model came from are cached and pushed).
- ``none`` (the offline default: no weights can be fetched here): nothing to fine-tune. The stage
  writes only ``source.json``, saying so; ``vit-evaluate`` then reports the from-scratch ViT and the CNN.

Training is `vit-train`'s (:func:`stages.vit.training.train_vit`): AdamW, warm-up + cosine, clipping,
resume after a kill.
"""
from __future__ import annotations

import contextlib
import logging
import shutil

from stages.core.io import dumps_json, sha256_file
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.weights import fetch_weights, load_state_dict
from stages.vit import params
from stages.vit.model import load_backbone
from stages.vit.training import train_vit

log = logging.getLogger(__name__)

SKIPPED = ("vit.finetune.weights.source is none: no pretrained weights, nothing fine-tuned "
           "(set it to url or path; the course profile sets torchvision's ViT-B/16)")


def main(stage: Declared) -> None:
    finetune_params = params.load().finetune
    folder = stage.out("finetune")
    weights_params = finetune_params.weights
    if weights_params.source == "none":
        with stage.outputs() as out:  # the whole folder is replaced: no model of an earlier run stays beside it
            (out.dir(folder) / "source.json").write_text(dumps_json({"source": "none", "skipped": SKIPPED}))
        log.info("%s", SKIPPED)
        return
    weights_path = fetch_weights(weights_params)
    state = load_state_dict(weights_path, weights_params.sha256)
    digest = sha256_file(weights_path)

    def init(net) -> None:
        loaded = load_backbone(net, state, str(weights_path))
        log.info("%s: %d pretrained tensors loaded; new %d-class head", weights_path, loaded, net.cfg.num_classes)

    @contextlib.contextmanager
    def outputs():
        with stage.outputs() as out:
            out.json(folder / "source.json", {"source": weights_params.source,
                                              "url": weights_params.url if weights_params.source == "url" else None,
                                              "path": str(weights_params.path) if weights_params.source == "path" else None,
                                              "sha256": digest, "file": weights_path.name})
            shutil.copyfile(weights_path, out.dir(folder / "pretrained") / weights_path.name)  # replaced whole
            yield out

    train_vit(stage, finetune_params.model, finetune_params.train, init=init,
              backbone_scale=finetune_params.train.backbone_lr_scale, key={"weights": digest},
              extra={"pretrained": weights_params.source, "weights_sha256": digest}, outputs=outputs,
              paths={name: folder / f"{name}.{ext}" for name, ext in
                     (("model", "pt"), ("history", "csv"), ("metrics", "json"), ("curves", "png"))})


if __name__ == "__main__":
    run_stage(main)
