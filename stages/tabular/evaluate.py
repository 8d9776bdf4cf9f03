"""Stage `tabular-evaluate`: accuracy of the trained SVC, the course's unscaled-vs-scaled comparison,
and the confusion matrix.

The model is loaded only after its pickle's hash is verified. The comparison trains the same SVC
settings on the imputed-but-unscaled and on the scaled train split (no resampling), each scored on
its own test split, so the effect of scaling alone is visible.
"""
from __future__ import annotations

import logging

import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix

from stages.core.classify import confusion_figure
from stages.core.errors import DataError
from stages.core.io import load_pickle, read_parquet
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.frames import features_target, read_pair
from stages.tabular.model import train_svc

log = logging.getLogger(__name__)


def accuracy(model, frame: pd.DataFrame) -> float:
    X, y = features_target(frame)
    missing = [c for c in model.feature_names_in_ if c not in X.columns]
    if missing:
        raise DataError(f"the model expects column(s) absent from the data: {', '.join(missing)}")
    return float(accuracy_score(y, model.predict(X[model.feature_names_in_])))


def main(stage: Declared) -> None:
    train_params, seed = params.load().train, load_common().seed
    model = load_pickle(stage.dep("model.pkl"))
    unscaled_train, unscaled_test = read_pair(stage.dep("impute"))
    scaled_train, scaled_test = read_pair(stage.dep("scale"))
    metrics = {
        "train_accuracy": accuracy(model, read_parquet(stage.dep("train.parquet"))),
        "test_accuracy": accuracy(model, scaled_test),
        "n_test": len(scaled_test),
        "comparison": {
            "unscaled": {"train_accuracy": accuracy(m := train_svc(unscaled_train, train_params, seed), unscaled_train),
                         "test_accuracy": accuracy(m, unscaled_test)},
            "scaled": {"train_accuracy": accuracy(m := train_svc(scaled_train, train_params, seed), scaled_train),
                       "test_accuracy": accuracy(m, scaled_test)},
        },
    }
    X, y = features_target(scaled_test)
    predicted = model.predict(X[model.feature_names_in_])
    cm = confusion_matrix(y, predicted, labels=[0, 1])
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("confusion.csv"), pd.DataFrame({"actual": y.to_numpy(), "predicted": predicted}).to_csv(index=False))
        out.figure(stage.out("confusion.png"), confusion_figure({"test split": cm}, ["died", "survived"]))
    log.info("accuracy train %.3f test %.3f (unscaled test %.3f, scaled test %.3f)", metrics["train_accuracy"],
             metrics["test_accuracy"], metrics["comparison"]["unscaled"]["test_accuracy"], metrics["comparison"]["scaled"]["test_accuracy"])


if __name__ == "__main__":
    run_stage(main)
