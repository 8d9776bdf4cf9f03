"""Stage `vit-train`: the Vision Transformer of ``vit.model``, trained from scratch by ``vit.train``.

Training: the core Trainer with AdamW, a linear warm-up and a cosine decay per update, gradient
clipping, validation accuracy each epoch; a killed run resumes (same params and data). The
pretrained ViT is fine-tuned by `vit-finetune` (``stages/vit/finetune.py``) through the same
:func:`stages.vit.training.train_vit`.
"""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.vit import params
from stages.vit.training import train_vit


def main(stage: Declared) -> None:
    vit_params = params.load()
    train_vit(stage, vit_params.model, vit_params.train,
              paths={"model": stage.out("model.pt"), "history": stage.out("history.csv"),
                     "metrics": stage.out("metrics.json"), "curves": stage.out("curves.png")})


if __name__ == "__main__":
    run_stage(main)
