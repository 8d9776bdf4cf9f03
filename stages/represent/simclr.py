"""Stage `represent-simclr`: the encoder trained with the simclr method under ``represent.seeds`` seeds
(see ``stages/represent/methods.py``)."""
from __future__ import annotations

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.represent.methods import train_method


def main(stage: Declared) -> None:
    train_method(stage, "simclr")


if __name__ == "__main__":
    run_stage(main)
