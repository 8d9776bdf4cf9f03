"""Stage `tabular-train`: fit an SVC on the (balanced, scaled) train split and pickle it."""
from __future__ import annotations

import argparse
import logging

import pandas as pd
from sklearn.svm import SVC

from stages.core.io import atomic_outputs, read_parquet
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.tabular import params
from stages.tabular.frames import features_target
from stages.tabular.params import TrainParams

log = logging.getLogger(__name__)


def train_svc(train: pd.DataFrame, p: TrainParams, seed: int) -> SVC:
    """An SVC fitted on every feature column of ``train``."""
    X, y = features_target(train)
    return SVC(C=p.C, kernel=p.kernel, gamma=p.gamma, random_state=seed).fit(X, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", required=True, help="train split (Parquet)")
    ap.add_argument("--model", required=True, help="output pickle")
    args = ap.parse_args()

    model = train_svc(read_parquet(args.train), params.load().train, load_common().seed)
    with atomic_outputs() as out:
        out.pickle(args.model, model)
    log.info("SVC fitted: %d support vectors", int(model.n_support_.sum()))


if __name__ == "__main__":
    run_stage(main)
