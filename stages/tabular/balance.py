"""Stage `tabular-balance`: under- or over-sample the train split to equal class counts (or not).

- ``none``:  train as it is;
- ``under``: every class randomly reduced to the smallest class' count (rows dropped);
- ``over``:  every class randomly resampled with replacement up to the largest class' count.
Test is never resampled: it must keep the real class balance.
"""
from __future__ import annotations

import logging

import pandas as pd

from stages.core.io import read_parquet
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.frames import TARGET

log = logging.getLogger(__name__)


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[TARGET].value_counts().sort_index().items()}


def balance(train: pd.DataFrame, method: str, seed: int) -> pd.DataFrame:
    """A resampled copy of ``train`` (rows shuffled for ``under``/``over``)."""
    if method == "none":
        return train.copy()
    counts = train[TARGET].value_counts()
    n = counts.min() if method == "under" else counts.max()
    parts = [
        group.sample(n=n, replace=(method == "over" and len(group) < n), random_state=seed)
        for _, group in train.groupby(TARGET, sort=True)
    ]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def main(stage: Declared) -> None:
    method = params.load().balance.method
    train = read_parquet(stage.dep("train.parquet"))
    balanced = balance(train, method, load_common().seed)
    counts = {"method": method, "before": class_counts(train), "after": class_counts(balanced)}
    with stage.outputs() as out:
        out.parquet(stage.out("balance") / "train.parquet", balanced)
        out.json(stage.out("balance") / "counts.json", counts)
    log.info("class counts %s -> %s (%s)", counts["before"], counts["after"], method)


if __name__ == "__main__":
    run_stage(main)
