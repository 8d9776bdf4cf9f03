"""Stage `anomaly-evaluate`: Efficient GAN scores, and both methods compared.

The Efficient GAN scores a test image with no search: z = E(x), then the same score as AnoGAN,
(1 - λ)·Σ|x - G(z)| + λ·Σ|f(x, z) - f(G(z), z)| with f the discriminator's hidden features.
Both methods' scores are compared by ROC-AUC (anomalous digits vs normal ones); seconds per image
of both (AnoGAN's from its run record) go to this stage's run record, ``.reprolab/runs/anomaly-evaluate.json``
(a time in an output would change its hash on every run). The figure shows test images, each method's reconstruction, and the scores.
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
from stages.core.training import setup_torch
from stages.gan.data import load_digits_npz

log = logging.getLogger(__name__)

N_PER_DIGIT = 4  # test images per digit in the figure
TIMING_REPEATS = 5


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


def figure_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` test images of each digit, normal digits first in label order of appearance."""
    _, first = np.unique(labels, return_index=True)
    return np.concatenate([np.flatnonzero(labels == labels[i])[:n] for i in sorted(first)])


def comparison_figure(x: np.ndarray, labels: np.ndarray, anomalous: np.ndarray, recons: dict[str, np.ndarray],
                      scores: dict[str, np.ndarray]):
    """Rows: test images, then each method's reconstruction titled with its score (red = anomalous digit)."""
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
    fig.suptitle("anomaly score above each reconstruction: higher = more anomalous (red: an anomalous digit)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    p, common = params.load(), load_common()
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
    efficientgan_scores(g, e, d, x[:2], p.score.lam)  # warm-up, so one-off set-up costs are not timed
    timings = []
    for _ in range(TIMING_REPEATS):  # one pass takes milliseconds: the median of a few is steadier
        start = time.perf_counter()
        eff = efficientgan_scores(g, e, d, x, p.score.lam)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timings.append(time.perf_counter() - start)
    eff_seconds = float(np.median(timings))

    anomalous = test["anomalous"]
    eff_frame = scores_frame(test["labels"], anomalous, eff)
    metrics = {
        "n_test": int(len(anomalous)), "n_anomalous": int(anomalous.sum()), "lam": p.score.lam,
        "anogan": {"roc_auc": roc_auc(anomalous, ano["score"].to_numpy())},
        "efficientgan": {"roc_auc": roc_auc(anomalous, eff_frame["score"].to_numpy())},
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
    )
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("scores.csv"), eff_frame.to_csv(index=False, float_format="%.6g"))
        out.figure(stage.out("comparison.png"), fig)
    write_run_record(stage.name, timing, outputs=[stage.out("scores.csv")])
    log.info("ROC-AUC AnoGAN %.3f, Efficient GAN %.3f; s/image %s vs %.5f", metrics["anogan"]["roc_auc"],
             metrics["efficientgan"]["roc_auc"], f"{timing['anogan_seconds_per_image']:.5f}" if "anogan_seconds_per_image" in timing else "?",
             timing["efficientgan_seconds_per_image"])


if __name__ == "__main__":
    run_stage(main)
