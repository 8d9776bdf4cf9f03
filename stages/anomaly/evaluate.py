"""Stage `anomaly-evaluate`: Efficient GAN scores, and both methods compared.

The Efficient GAN scores a test image with no search: z = E(x), then the same score as AnoGAN,
(1 - λ)·Σ|x - G(z)| + λ·Σ|f(x, z) - f(G(z), z)| with f the discriminator's hidden features.
Both methods' scores are compared by ROC-AUC (anomalous digits vs normal ones), with a bootstrap 95%
interval. Seconds per image of both (AnoGAN's from its run record) go to this stage's run record,
``.reprolab/runs/anomaly-evaluate.json`` (a time in an output would change its hash on every run).
The figure shows test images, each method's reconstruction, and the scores; its title gives both
ROC-AUCs with their intervals.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from stages.anomaly import params
from stages.anomaly.nets import Discriminator, Encoder, Generator, build
from stages.anomaly.objectives import anomaly_score
from stages.anomaly.scores import scores_frame
from stages.core.checkpoint import load_models
from stages.core.errors import DataError
from stages.core.figures import new_figure
from stages.core.io import require_file
from stages.core.params import load_common
from stages.core.runs import read_run_record, write_run_record
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.core.digits import load_digits_npz

log = logging.getLogger(__name__)

N_PER_DIGIT = 4  # test images per digit in the figure
TIMING_REPEATS = 5
BOOTSTRAP_RESAMPLES = 1000  # resamples of the test set for the ROC-AUC interval


def load_efficientgan(path: str, device: torch.device) -> tuple[Generator, Encoder, Discriminator]:
    """The trained networks of an Efficient GAN checkpoint, in eval mode with frozen weights."""
    nets, _ = load_models(path, "efficientgan", build, ("g", "e", "d"), device)
    return tuple(nets)


@torch.no_grad()
def efficientgan_scores(g: Generator, e: Encoder, d: Discriminator, x: torch.Tensor, lam: float) -> dict[str, torch.Tensor]:
    """Per-image ``score``, ``residual``, ``discrimination`` (B,), ``z`` = E(x) and ``reconstruction`` G(E(x))."""
    z = e(x)  # (B, z_dim)
    fake = g(z)  # (B, 1, S, S)
    return {"z": z, "reconstruction": fake, **anomaly_score(x, fake, d.features(x, z), d.features(fake, z), lam)}


def roc_auc(anomalous: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of ``scores`` separating anomalous (1) from normal (0) images.

    Raises:
        DataError: the test set holds only one of the two classes.
    """
    anomalous = np.asarray(anomalous).astype(int)
    if anomalous.min() == anomalous.max():
        raise DataError(f"ROC-AUC needs both normal and anomalous test images; all {len(anomalous)} are {'anomalous' if anomalous[0] else 'normal'}")
    return float(roc_auc_score(anomalous, scores))


def pairwise_wins(anomalous: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(n_anomalous, n_normal) matrix: 1 where the anomalous image scores above the normal one, 0.5 on a
    tie, else 0. Its mean is the ROC-AUC (the Mann-Whitney form)."""
    anomalous = np.asarray(anomalous).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    pos, neg = scores[anomalous][:, None], scores[~anomalous][None, :]
    return (pos > neg) + 0.5 * (pos == neg)


def bootstrap_roc_auc(anomalous: np.ndarray, scores: np.ndarray, resamples: int, seed: int,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC-AUC: the test images are resampled with replacement,
    anomalous and normal ones separately (stratified, so every resample keeps both classes and the
    test set's class counts).

    A resample that draws anomalous image i ``a_i`` times and normal image j ``b_j`` times has ROC-AUC
    a·W·b / (n_anomalous·n_normal) with W from :func:`pairwise_wins`, so no resample is re-sorted.

    Args:
        anomalous: (N,) 1/True for anomalous images.
        scores: (N,) higher = more anomalous.
        resamples: number of bootstrap resamples.
        seed: seeds the resampling (``common.seed``).
        level: coverage of the interval.

    Returns:
        (low, high) bounds of the interval.

    Raises:
        DataError: the test set holds only one of the two classes.
    """
    roc_auc(anomalous, scores)  # refuses a one-class test set with a clear message
    wins = pairwise_wins(anomalous, scores)  # (n_pos, n_neg)
    n_pos, n_neg = wins.shape
    rng = np.random.default_rng(seed)
    a = rng.multinomial(n_pos, np.full(n_pos, 1 / n_pos), size=resamples)  # (R, n_pos) draw counts
    b = rng.multinomial(n_neg, np.full(n_neg, 1 / n_neg), size=resamples)  # (R, n_neg)
    aucs = ((a @ wins) * b).sum(1) / (n_pos * n_neg)  # (R,): a_r · W · b_r per resample
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(aucs, [tail, 100 - tail])
    return float(low), float(high)


def compare(anomalous: np.ndarray, scores: dict[str, np.ndarray], seed: int,
            resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, dict[str, float]]:
    """Per method: ``roc_auc`` and its bootstrap 95% interval ``roc_auc_low``, ``roc_auc_high``."""
    out = {}
    for name, s in scores.items():
        low, high = bootstrap_roc_auc(anomalous, s, resamples, seed)
        out[name] = {"roc_auc": roc_auc(anomalous, s), "roc_auc_low": low, "roc_auc_high": high}
    return out


def auc_title(aucs: dict[str, dict[str, float]], labels: dict[str, str], n_test: int, n_anomalous: int) -> str:
    """Figure title: each method's ROC-AUC with its 95% interval, and the test set's size."""
    parts = [f"{labels[k]} {v['roc_auc']:.3f} [{v['roc_auc_low']:.3f}, {v['roc_auc_high']:.3f}]" for k, v in aucs.items()]
    return (f"ROC-AUC [bootstrap 95% interval]: {'   '.join(parts)}\n"
            f"{n_test} test images, {n_anomalous} anomalous")


def figure_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` test images of each digit, normal digits first in label order of appearance."""
    _, first = np.unique(labels, return_index=True)
    return np.concatenate([np.flatnonzero(labels == labels[i])[:n] for i in sorted(first)])


def comparison_figure(x: np.ndarray, labels: np.ndarray, anomalous: np.ndarray, recons: dict[str, np.ndarray],
                      scores: dict[str, np.ndarray], title: str | None = None):
    """Rows: test images, then each method's reconstruction titled with its score (red = anomalous digit);
    ``title`` above all (the ROC-AUCs)."""
    n = len(x)
    fig, axes = new_figure(1 + len(recons), n, figsize=(0.95 * n, 1.2 * (1 + len(recons))), squeeze=False)
    for c in range(n):
        colour = "tab:red" if anomalous[c] else "black"
        axes[0][c].imshow(x[c, 0], cmap="gray", vmin=-1, vmax=1)
        axes[0][c].set_title(f"{labels[c]}", fontsize=8, color=colour)
        for r, name in enumerate(recons, start=1):
            axes[r][c].imshow(recons[name][c, 0], cmap="gray", vmin=-1, vmax=1)
            axes[r][c].set_title(f"{scores[name][c]:.0f}", fontsize=7, color=colour)
    for r, name in enumerate(["test digit", *(f"{m}\nG(z), score" for m in recons)]):
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    head = "anomaly score above each reconstruction: higher = more anomalous (red: an anomalous digit)"
    fig.suptitle(f"{title}\n{head}" if title else head, fontsize=8)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    anomaly_params, common = params.load(), load_common()
    device = setup_torch(common.seed, common.device)
    test = load_digits_npz(stage.dep("test.npz"), ("images", "labels", "anomalous"))
    ano_scores = stage.dep("anogan/scores.csv")
    ano = pd.read_csv(require_file(ano_scores, "AnoGAN scores"))
    if len(ano) != len(test["labels"]) or "score" not in ano:
        raise DataError(f"{ano_scores}: expected a 'score' column with {len(test['labels'])} rows (one per test image), got {len(ano)} rows, columns {list(ano.columns)}")
    with np.load(require_file(stage.dep("reconstructions.npz"), "AnoGAN reconstructions")) as z:
        ano_recon = z["images"]

    g, e, d = load_efficientgan(stage.dep("model.pt"), device)
    x = torch.from_numpy(test["images"]).to(device)
    efficientgan_scores(g, e, d, x[:2], anomaly_params.score.lam)  # warm-up, so one-off set-up costs are not timed
    timings = []
    for _ in range(TIMING_REPEATS):  # one pass takes milliseconds: the median of a few is steadier
        start = time.perf_counter()
        eff = efficientgan_scores(g, e, d, x, anomaly_params.score.lam)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.append(time.perf_counter() - start)
    eff_seconds = float(np.median(timings))

    anomalous = test["anomalous"]
    eff_frame = scores_frame(test["labels"], anomalous, eff)
    aucs = compare(anomalous, {"anogan": ano["score"].to_numpy(), "efficientgan": eff_frame["score"].to_numpy()}, common.seed)
    metrics = {
        "n_test": int(len(anomalous)), "n_anomalous": int(anomalous.sum()), "lam": anomaly_params.score.lam,
        "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "anogan": aucs["anogan"],
        "efficientgan": aucs["efficientgan"],
    }
    # wall clock: the run record, not the metrics (AnoGAN's time from its own run record, when this host ran it)
    timing = {"efficientgan_seconds_per_image": eff_seconds / len(x), "device": device.type}
    ano_run = read_run_record("anomaly-anogan") or {}
    if "seconds_per_image" in ano_run:
        timing.update(anogan_seconds_per_image=ano_run["seconds_per_image"], anogan_search_steps=ano_run.get("steps"),
                      efficientgan_speedup=ano_run["seconds_per_image"] / max(timing["efficientgan_seconds_per_image"], 1e-12))
    show = figure_indices(test["labels"], N_PER_DIGIT)
    fig = comparison_figure(
        test["images"][show], test["labels"][show], anomalous[show],
        {"AnoGAN": ano_recon[show], "Efficient GAN": eff["reconstruction"].cpu().numpy()[show]},
        {"AnoGAN": ano["score"].to_numpy()[show], "Efficient GAN": eff_frame["score"].to_numpy()[show]},
        title=auc_title(aucs, {"anogan": "AnoGAN", "efficientgan": "Efficient GAN"}, metrics["n_test"], metrics["n_anomalous"]),
    )
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("scores.csv"), eff_frame.to_csv(index=False, float_format="%.6g"))
        out.figure(stage.out("comparison.png"), fig)
    write_run_record(stage.name, timing, outputs=[stage.out("scores.csv")])
    log.info("ROC-AUC [95%% interval] AnoGAN %.3f [%.3f, %.3f], Efficient GAN %.3f [%.3f, %.3f]; s/image %s vs %.5f",
             *(metrics[m][k] for m in ("anogan", "efficientgan") for k in ("roc_auc", "roc_auc_low", "roc_auc_high")),
             f"{timing['anogan_seconds_per_image']:.5f}" if "anogan_seconds_per_image" in timing else "?",
             timing["efficientgan_seconds_per_image"])


if __name__ == "__main__":
    run_stage(main)
