"""Stage `transfer-train`: transfer learning. The pretrained convolutions stay frozen; the new head
(`classifier.6`) trains, with the classifier's hidden layers too when `transfer.train.transfer_trains`
is `[hidden, head]` (the offline default: the small net's hidden layers are too specific to the
source digits), at `transfer.train.lr.transfer`. The course trains `classifier.6` alone.

Same split, epochs, batches and seed as the other two target stages (`transfer.train`); see
stages.transfer.training. Outputs: the checkpoint (loads on a CPU with `map_location`), per-epoch
loss and validation accuracy (`history.csv`), metrics.
"""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.transfer.training import train_target


def main(stage: Declared) -> None:
    train_target(stage, "transfer", target=stage.dep("target"), backbone=(stage.dep("backbone.pth"), stage.dep("backbone.json")))


if __name__ == "__main__":
    run_stage(main)
