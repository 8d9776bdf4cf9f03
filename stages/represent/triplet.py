"""Stage `represent-triplet`: the encoder trained with FaceNet's triplet loss (Schroff et al. 2015),
max(0, d(a, p) − d(a, n) + margin) for every (anchor, positive) pair of a batch, the negative mined in
the batch (``semihard``, ``hardest`` or ``all``), one random view of each image per step, under
``represent.seeds`` seeds side by side.

Params: ``represent.triplet`` (its recipe, ``margin`` and ``mining``), ``represent.encoder``,
``represent.seeds``. Outputs: ``model.pt`` (every seed's encoder), ``history.csv``, ``metrics.json``;
the losses live in ``stages/represent/losses.py``, the training in ``stages/represent/methods.py``."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "triplet")


if __name__ == "__main__":
    run_stage(main)
