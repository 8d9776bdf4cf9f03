"""Stage `transfer-finetune`: fine-tuning: the pretrained backbone with a new head, every layer trains, one learning rate per group (`transfer.finetune`: features, classifier.0/.3, classifier.6).

Same split, epochs, batches and seed as the other two target stages (`transfer.train`); see
stages.transfer.training. Outputs: the checkpoint (loads on a CPU with `map_location`), per-epoch
loss and validation accuracy (`history.csv`), metrics.
"""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.transfer.training import train_target


def main(stage: Declared) -> None:
    train_target(stage, "finetune", target=stage.dep("target"), backbone=(stage.dep("backbone.pth"), stage.dep("backbone.json")))


if __name__ == "__main__":
    run_stage(main)
