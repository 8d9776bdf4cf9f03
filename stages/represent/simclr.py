"""Stage `represent-simclr`: the encoder trained without labels by SimCLR (Chen et al. 2020): NT-Xent
over two different cached views of each image of a batch, at ``temperature``, under
``represent.seeds`` seeds side by side.

Params: ``represent.simclr`` (its recipe and ``temperature``), ``represent.encoder``,
``represent.seeds``. Outputs: ``model.pt`` (every seed's encoder), ``history.csv``, ``metrics.json``;
the losses live in ``stages/represent/losses.py``, the training in ``stages/represent/methods.py``."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "simclr")


if __name__ == "__main__":
    run_stage(main)
