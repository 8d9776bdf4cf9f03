"""Stage `tabular-impute`: median imputation fitted on train, pickled, applied to both splits."""
from __future__ import annotations

import logging

import pandas as pd
from sklearn.impute import SimpleImputer

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular.frames import TARGET, features_target, read_pair, write_pair

log = logging.getLogger(__name__)


def missing_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Missing values per column (columns with none included, as zeros)."""
    return {c: int(n) for c, n in frame.isna().sum().items()}


def fit_imputer(train: pd.DataFrame) -> SimpleImputer:
    """A median imputer over the feature columns of ``train``."""
    X, _ = features_target(train)
    return SimpleImputer(strategy="median", keep_empty_features=True).set_output(transform="pandas").fit(X)


def impute(frame: pd.DataFrame, imputer: SimpleImputer) -> pd.DataFrame:
    """Fill the feature columns with the fitted imputer; the label is left as is. Returns a new frame."""
    X, y = features_target(frame)
    out = imputer.transform(X[imputer.feature_names_in_])
    out[TARGET] = y.to_numpy()
    return out


def main(stage: Declared) -> None:
    train, test = read_pair(stage.dep("encode"))
    imputer = fit_imputer(train)
    out_dir = stage.out("impute")
    with stage.outputs() as out:
        saved = out.pickle(out_dir / "imputer.pkl", imputer)  # the pickle is what transforms both splits
        write_pair(out, out_dir, impute(train, saved), impute(test, saved))
        out.json(out_dir / "missing.json", {"train": missing_counts(train), "test": missing_counts(test),
                                            "medians": dict(zip(imputer.feature_names_in_, imputer.statistics_))})
    log.info("missing before imputation (train): %s", {k: v for k, v in missing_counts(train).items() if v})


if __name__ == "__main__":
    run_stage(main)
