"""Stage `represent-supervised`: the encoder trained with the supervised method under ``represent.seeds`` seeds
(see ``stages/represent/methods.py``)."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "supervised")


if __name__ == "__main__":
    run_stage(main)
