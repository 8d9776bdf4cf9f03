"""Stage `represent-supervised`: the reference, the same encoder with a linear classifier on its
embedding, trained with cross-entropy on one random view of each image per step, under
``represent.seeds`` seeds side by side.

Params: ``represent.supervised`` (its recipe), ``represent.encoder``, ``represent.seeds``. Outputs:
``model.pt`` (every seed's encoder and classifier), ``history.csv``, ``metrics.json``; the training
lives in ``stages/represent/methods.py``."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "supervised")


if __name__ == "__main__":
    run_stage(main)
