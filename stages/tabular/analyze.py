"""Stage `tabular-analyze`: outliers, distribution tests and the scaler each column should get.

For each numeric column named in ``tabular.analyze.columns`` (computed on the train split only):
- IQR outliers: values below Q1 − 1.5·IQR or above Q3 + 1.5·IQR (the box plot's whiskers);
- chi-square test of uniformity over ``bins`` equal-width bins (H0: the column is uniform);
- Shapiro–Wilk test of normality (H0: the column is normal).

Scaler rule, first match wins (``alpha`` is the significance level):
1. normal (Shapiro p ≥ alpha)            → ``standard`` (zero mean, unit variance)
2. uniform (chi-square p ≥ alpha)        → ``minmax`` (normalise to [0, 1])
3. has IQR outliers                      → ``robust`` (median and IQR, outliers do not dominate)
4. otherwise                             → ``minmax``
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from stages.core.errors import DataError
from stages.core.figures import new_figure
from stages.core.io import read_parquet
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.tabular import params

log = logging.getLogger(__name__)


def iqr_outliers(values: np.ndarray) -> dict:
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    return {"q1": q1, "q3": q3, "iqr": iqr, "low": low, "high": high,
            "outliers": int(((values < low) | (values > high)).sum())}


def uniformity_p(values: np.ndarray, bins: int) -> float:
    """Chi-square p-value of H0 'uniform over the observed range'."""
    observed, _ = np.histogram(values, bins=bins)
    if values.min() == values.max():
        return 1.0
    return float(stats.chisquare(observed).pvalue)


def normality_p(values: np.ndarray) -> float:
    """Shapiro–Wilk p-value of H0 'normal' (a constant column is not normal: p = 0)."""
    if len(values) < 3 or np.ptp(values) == 0:
        return 0.0
    return float(stats.shapiro(values).pvalue)


def choose_scaler(normal_p: float, uniform_p: float, outliers: int, alpha: float) -> str:
    """The documented rule (see the module docstring)."""
    if normal_p >= alpha:
        return "standard"
    if uniform_p >= alpha:
        return "minmax"
    if outliers > 0:
        return "robust"
    return "minmax"


def analyze_column(values: np.ndarray, alpha: float, bins: int) -> dict:
    values = values[~np.isnan(values)]
    result = iqr_outliers(values)
    result["uniform_p"] = uniformity_p(values, bins)
    result["normal_p"] = normality_p(values)
    result["scaler"] = choose_scaler(result["normal_p"], result["uniform_p"], result["outliers"], alpha)
    return result


def analyze(train: pd.DataFrame, columns: list[str], alpha: float, bins: int) -> dict[str, dict]:
    """Analysis of every requested column present in ``train``; absent optional ones are skipped."""
    present = [c for c in columns if c in train.columns]
    for c in present:
        if not pd.api.types.is_numeric_dtype(train[c]):
            raise DataError(f"tabular.analyze.columns: column '{c}' is not numeric ({train[c].dtype})")
    if not present:
        raise DataError(f"tabular.analyze.columns: none of {columns} is in the table ({list(train.columns)})")
    skipped = sorted(set(columns) - set(present))
    if skipped:
        log.info("absent from this data, not analysed: %s", ", ".join(skipped))
    return {c: analyze_column(train[c].to_numpy(dtype=float), alpha, bins) for c in present}


def histogram_figure(train: pd.DataFrame, analysis: dict, bins: int):
    # constrained layout keeps the suptitle clear of the panel titles (tight_layout ignores it here)
    fig, axes = new_figure(1, len(analysis), figsize=(4 * len(analysis), 3.4), squeeze=False, layout="constrained")
    for ax, (col, a) in zip(axes[0], analysis.items()):
        ax.hist(train[col].dropna(), bins=bins, color="#4c72b0")
        ax.axvline(a["low"], color="#c44e52", ls="--", lw=1)
        ax.axvline(a["high"], color="#c44e52", ls="--", lw=1)
        ax.set_title(f"{col}: {a['outliers']} outliers → {a['scaler']}", fontsize=9)
        ax.set_xlabel(f"normal p={a['normal_p']:.2g}, uniform p={a['uniform_p']:.2g}", fontsize=8)
    fig.suptitle("train split, before scaling (dashed: IQR fences)")
    return fig


def main(stage: Declared) -> None:
    analyze_params = params.load().analyze
    train = read_parquet(stage.dep("train.parquet"))
    analysis = analyze(train, analyze_params.columns, analyze_params.alpha, analyze_params.bins)
    out_dir = stage.out("analyze")
    with stage.outputs() as out:
        out.json(out_dir / "analysis.json", analysis)
        out.figure(out_dir / "histograms.png", histogram_figure(train, analysis, analyze_params.bins))
    for col, a in analysis.items():
        log.info("%-6s outliers=%-3d normal_p=%.3g uniform_p=%.3g -> %s", col, a["outliers"], a["normal_p"], a["uniform_p"], a["scaler"])


if __name__ == "__main__":
    run_stage(main)
