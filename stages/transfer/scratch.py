"""Stage `transfer-scratch`: the target task trained from scratch (random init, every layer at `transfer.train.lr.scratch`): the baseline the backbone must beat.

Same split, epochs, batches and seed as the other two target stages (`transfer.train`); see
stages.transfer.training. Outputs: the checkpoint (loads on a CPU with `map_location`), per-epoch
loss and validation accuracy (`history.csv`), metrics.
"""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.transfer.training import train_target


def main(stage: Declared) -> None:
    train_target(stage, "scratch", target=stage.dep("target"), backbone=None)


if __name__ == "__main__":
    run_stage(main)
