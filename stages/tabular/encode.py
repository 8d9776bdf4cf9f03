"""Stage `tabular-encode`: drop leaking/redundant columns, encode categories, booleans → 0/1.

The categories are learned from the train split only; a test value never seen in train encodes as
all-zero dummies (one-hot) or -1 (label), and test gets exactly the train columns.
"""
from __future__ import annotations

import logging

import pandas as pd

from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.frames import TARGET, read_pair, write_pair

log = logging.getLogger(__name__)

ALWAYS_CATEGORICAL = ("pclass",)  # numeric codes that are categories, not quantities


def is_categorical(series: pd.Series) -> bool:
    return (
        series.name in ALWAYS_CATEGORICAL
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_object_dtype(series)
    )


def fit_encoding(train: pd.DataFrame, drop: list[str], categorical: str) -> dict:
    """Learn the encoding from the train split.

    Returns:
        A JSON-able dict: ``drop`` (columns present and dropped), ``mode``, ``categories``
        (column -> sorted category list), ``booleans`` and ``columns`` (the output column order).
    """
    if TARGET in drop:
        raise DataError(f"tabular.encode.drop: cannot drop the target column '{TARGET}'")
    kept = train.drop(columns=[c for c in drop if c in train.columns])
    categories = {
        c: sorted(kept[c].dropna().astype(str).unique().tolist())
        for c in kept.columns
        if c != TARGET and is_categorical(kept[c])
    }
    booleans = [c for c in kept.columns if pd.api.types.is_bool_dtype(kept[c])]
    encoding = {
        "drop": [c for c in drop if c in train.columns],
        "mode": categorical,
        "categories": categories,
        "booleans": booleans,
    }
    encoding["columns"] = list(apply_encoding(train, {**encoding, "columns": None}).columns)
    return encoding


def apply_encoding(frame: pd.DataFrame, encoding: dict) -> pd.DataFrame:
    """Apply a fitted encoding; returns a new all-numeric frame (NaN kept for the imputer)."""
    out = frame.drop(columns=[c for c in encoding["drop"] if c in frame.columns])
    for col in encoding["booleans"]:
        if col in out:
            out[col] = out[col].astype(float)  # float keeps NaN for the imputer
    for col, cats in encoding["categories"].items():
        if col not in out:
            continue
        values = pd.Categorical(out[col].astype(str).where(out[col].notna()), categories=cats)
        if encoding["mode"] == "label":
            # pandas codes NaN and unseen values as -1: NaN stays NaN (imputed later), unseen stays -1
            out[col] = pd.Series(values.codes, index=out.index, dtype=float).mask(out[col].isna())
        else:
            dummies = pd.get_dummies(values, prefix=col, dtype=float)
            dummies.index = out.index
            out = pd.concat([out.drop(columns=[col]), dummies], axis=1)
    if encoding["columns"] is not None:
        missing = [c for c in encoding["columns"] if c not in out.columns and c != TARGET]
        if missing:
            log.warning("columns absent here, filled with 0 to match train: %s", ", ".join(missing))
        out = out.reindex(columns=encoding["columns"], fill_value=0.0)
    return out.astype(float).astype({TARGET: "int64"})


def main(stage: Declared) -> None:
    encode_params = params.load().encode
    train, test = read_pair(stage.dep("split"))
    encoding = fit_encoding(train, encode_params.drop, encode_params.categorical)
    out_dir = stage.out("encode")
    with stage.outputs() as out:
        write_pair(out, out_dir, apply_encoding(train, encoding), apply_encoding(test, encoding))
        out.json(out_dir / "encoding.json", encoding)
    log.info("%d feature columns (%s encoding); dropped %s", len(encoding["columns"]) - 1, encode_params.categorical,
             encoding["drop"])


if __name__ == "__main__":
    run_stage(main)
