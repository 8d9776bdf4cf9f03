"""Stage `tabular-split`: a stratified, seeded train/test split of the raw table."""
from __future__ import annotations

import logging

import pandas as pd
from sklearn.model_selection import train_test_split

from stages.core.io import read_parquet
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.frames import TARGET, write_pair

log = logging.getLogger(__name__)


def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified on ``survived``, so both parts keep the survival rate."""
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(stage: Declared) -> None:
    train, test = split(read_parquet(stage.dep("raw.parquet")), params.load().split.test_size, load_common().seed)
    with stage.outputs() as out:
        write_pair(out, stage.out("split"), train, test)
    log.info("train %d rows, test %d rows (survival %.3f / %.3f)", len(train), len(test), train[TARGET].mean(), test[TARGET].mean())


if __name__ == "__main__":
    run_stage(main)
