"""Helpers shared by the tabular stages: the target column and train/test pairs on disk."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.core.io import Outputs, read_parquet

TARGET = "survived"


def read_pair(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``folder/train.parquet`` and ``folder/test.parquet``."""
    folder = Path(folder)
    return read_parquet(folder / "train.parquet"), read_parquet(folder / "test.parquet")


def write_pair(out: Outputs, folder: Path, train: pd.DataFrame, test: pd.DataFrame) -> None:
    out.parquet(folder / "train.parquet", train)
    out.parquet(folder / "test.parquet", test)


def features_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Split a frame into features and the ``survived`` label."""
    return frame.drop(columns=[TARGET]), frame[TARGET]
