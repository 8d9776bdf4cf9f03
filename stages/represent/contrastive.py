"""Stage `represent-contrastive`: the encoder trained with Hadsell, Chopra & LeCun's (2006) contrastive
loss over every pair of a batch (same class: ½d²; other classes: ½max(0, margin − d)², on unit-sphere
embeddings), one random view of each image per step, under ``represent.seeds`` seeds side by side.

Params: ``represent.contrastive`` (its recipe and ``margin``), ``represent.encoder``, ``represent.seeds``.
Outputs: ``model.pt`` (every seed's encoder), ``history.csv``, ``metrics.json``; the losses live in
``stages/represent/losses.py``, the training in ``stages/represent/methods.py``."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "contrastive")


if __name__ == "__main__":
    run_stage(main)
