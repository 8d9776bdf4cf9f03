"""Stage `tabular-scale`: one scaler per analysed column, fitted on train, pickled, applied to test.

The scaler for each column is the analysis' choice unless ``tabular.scale.override`` names another
(``minmax``, ``standard``, ``robust`` or ``none``). Columns that were not analysed (0/1 dummies) are
left as they are. Test gets exactly the train columns, in the train order.
"""
from __future__ import annotations

import logging

import pandas as pd
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from stages.core.errors import DataError
from stages.core.figures import new_figure
from stages.core.io import read_json
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params
from stages.tabular.frames import read_pair, write_pair

log = logging.getLogger(__name__)

SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "robust": RobustScaler}


def choose_scalers(analysis: dict[str, dict], override: dict[str, str]) -> dict[str, str]:
    """Column -> scaler name: the analysis' choice, replaced where ``override`` says so."""
    unknown = sorted(set(override) - set(analysis))
    if unknown:
        raise DataError(f"tabular.scale.override: column(s) not analysed: {', '.join(unknown)} (analysed: {', '.join(analysis)})")
    return {col: override.get(col, a["scaler"]) for col, a in analysis.items()}


def fit_scalers(train: pd.DataFrame, choice: dict[str, str]) -> dict[str, object]:
    """One fitted scaler per column (``none`` columns get none)."""
    return {col: SCALERS[name]().fit(train[[col]]) for col, name in choice.items() if name != "none"}


def align_columns(test: pd.DataFrame, train_columns: pd.Index) -> pd.DataFrame:
    """Test with exactly the train columns (absent ones filled with 0, extra ones dropped)."""
    missing, extra = set(train_columns) - set(test.columns), set(test.columns) - set(train_columns)
    if missing or extra:
        log.warning("aligning test to train columns: adding %s, dropping %s", sorted(missing), sorted(extra))
    return test.reindex(columns=train_columns, fill_value=0.0)


def apply_scalers(frame: pd.DataFrame, scalers: dict[str, object]) -> pd.DataFrame:
    """A scaled copy of ``frame``."""
    out = frame.copy()
    for col, scaler in scalers.items():
        out[col] = scaler.transform(frame[[col]])[:, 0]
    return out


def unchanged_note(values: pd.Series, scaled: pd.Series, name: str) -> str | None:
    """Why a scaled column looks exactly like the original, or ``None`` when it does not.

    RobustScaler computes ``(x - median) / IQR``, and divides by 1 where the IQR is 0. A count
    column such as parch (most passengers 0: median 0, Q1 = Q3 = 0) or sibsp (median 0, Q1 = 0,
    Q3 = 1) is therefore left exactly as it was.
    """
    if not (values.to_numpy() == scaled.to_numpy()).all():
        return None
    if name == "robust":
        q1, median, q3 = (float(q) for q in values.quantile([0.25, 0.5, 0.75]))
        if q3 == q1:
            return (f"unchanged: IQR = 0 (Q1 = Q3 = {q1:g}),\nso RobustScaler divides by 1\n"
                    f"after subtracting the median {median:g}")
        return (f"unchanged: median {median:g}, IQR {q3 - q1:g}\n(Q1 = {q1:g}, Q3 = {q3:g}), so RobustScaler's\n"
                f"(x - {median:g}) / {q3 - q1:g} is x itself")
    return "unchanged by the scaler"


def before_after_figure(before: pd.DataFrame, after: pd.DataFrame, choice: dict[str, str]):
    fig, axes = new_figure(2, len(choice), figsize=(3.6 * len(choice), 5), squeeze=False, layout="constrained")
    for j, (col, name) in enumerate(choice.items()):
        axes[0, j].hist(before[col], bins=20, color="#4c72b0")
        axes[0, j].set_title(f"{col} (before)", fontsize=9)
        axes[1, j].hist(after[col], bins=20, color="#55a868")
        axes[1, j].set_title(f"{col} ({name})", fontsize=9)
        note = unchanged_note(before[col], after[col], name)
        if note:  # say why two panels look identical instead of leaving it to the reader
            axes[1, j].text(0.97, 0.95, note, transform=axes[1, j].transAxes, ha="right", va="top", fontsize=7,
                            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "#999999"})
    fig.suptitle("train split before and after scaling")
    return fig


def main(stage: Declared) -> None:
    train, test = read_pair(stage.dep("impute"))
    choice = choose_scalers(read_json(stage.dep("analysis.json")), params.load().scale.override)
    out_dir = stage.out("scale")
    with stage.outputs() as out:
        # the pickled scalers (read back from what was written) are what transform both splits
        scalers = {col: out.pickle(out_dir / "scalers" / f"{col}.pkl", s) for col, s in fit_scalers(train, choice).items()}
        scaled_train = apply_scalers(train, scalers)
        scaled_test = apply_scalers(align_columns(test, train.columns), scalers)
        write_pair(out, out_dir, scaled_train, scaled_test)
        out.json(out_dir / "scaling.json", choice)
        out.figure(out_dir / "before_after.png", before_after_figure(train, scaled_train, choice))
    log.info("scalers: %s", choice)


if __name__ == "__main__":
    run_stage(main)
