"""Stage `diffusion-evaluate`: quality of every sampler, in the judge's eyes, against network evaluations.

For each sampler: FID between its samples and the training images in the judge's feature space,
validity (share of samples the judge labels with probability ≥ ``confidence``), the class histogram,
and network evaluations per sample. The floor is the FID of the real held-out images against the
training images. The goal line compares DDIM S = 50 (η = 0) with DDPM: FID ratio and evaluation ratio.
Seconds per sample are wall clock and live in `diffusion-sample`'s run record, not here.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import torch

from stages.core.checkpoint import load_models
from stages.core.errors import DataError
from stages.core.io import require_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.diffusion import params
from stages.diffusion.images import load_images_npz
from stages.diffusion.plots import quality_vs_evaluations
from stages.diffusion.quality import Judge, build_judge, class_histogram, fid, judge_probs, validity

log = logging.getLogger(__name__)


def score(judge: Judge, train: torch.Tensor, heldout: torch.Tensor, samples: dict[str, np.ndarray],
          settings: list[dict], confidence: float) -> tuple[dict, list[dict], dict]:
    """The evaluation table.

    Returns:
        (metrics: floor and one entry per sampler, rows for the plot/CSV, histograms per sampler).
    """
    held_probs = judge_probs(judge, heldout)
    metrics = {"floor_fid": fid(judge, train, heldout), "heldout_validity": validity(held_probs, confidence)}
    rows, hist = [], {"heldout": class_histogram(held_probs)}
    for s in settings:
        x = torch.from_numpy(samples[s["name"]])
        probs = judge_probs(judge, x)
        row = {**{k: s[k] for k in ("name", "sampler", "steps", "eta", "skip", "evaluations")},
               "fid": fid(judge, train, x), "validity": validity(probs, confidence)}
        rows.append(row)
        hist[s["name"]] = class_histogram(probs)
        metrics[s["name"]] = {k: row[k] for k in ("fid", "validity", "evaluations")}
    ddpm = next((r for r in rows if r["sampler"] == "ddpm"), None)
    ddim50 = next((r for r in rows if r["sampler"] == "ddim" and r["steps"] == 50 and r["eta"] == 0), None)
    if ddpm and ddim50:
        metrics["goal_ddim50"] = {"fid_ratio": ddim50["fid"] / ddpm["fid"],
                                  "evaluation_ratio": ddpm["evaluations"] / ddim50["evaluations"]}
    return metrics, rows, hist


def table_csv(rows: list[dict]) -> str:
    cols = ["name", "sampler", "steps", "eta", "skip", "evaluations", "fid", "validity"]
    return "\n".join([",".join(cols)] + [",".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in cols)
                                         for r in rows]) + "\n"


def main(stage: Declared) -> None:
    evaluate_params, common = params.load().evaluate, load_common()
    device = setup_torch(common.seed, "cpu")  # scoring is small; CPU keeps the metrics the same on every host
    (judge,), _ = load_models(stage.dep("judge/model.pt"), "diffusion-judge", build_judge, ("judge",), device)
    train = torch.from_numpy(load_images_npz(stage.dep("train.npz"))[0])
    heldout = torch.from_numpy(load_images_npz(stage.dep("heldout.npz"))[0])
    settings = json.loads(require_file(stage.dep("settings.json")).read_text())
    with np.load(require_file(stage.dep("samples.npz"))) as z:
        missing = [s["name"] for s in settings if s["name"] not in z.files]
        if missing:
            raise DataError(f"{stage.dep('samples.npz')}: sampler(s) {', '.join(missing)} missing; rerun diffusion-sample")
        samples = {s["name"]: z[s["name"]] for s in settings}
    metrics, rows, hist = score(judge, train, heldout, samples, settings, evaluate_params.confidence)
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.json(stage.out("histograms.json"), hist)
        out.text(stage.out("table.csv"), table_csv(rows))
        out.figure(stage.out("quality.png"), quality_vs_evaluations(rows, metrics["floor_fid"]))
    for r in rows:
        log.info("%-28s evaluations %5d  FID %.3f  validity %.3f", r["name"], r["evaluations"], r["fid"], r["validity"])
    log.info("floor (held-out real vs train): FID %.3f", metrics["floor_fid"])


if __name__ == "__main__":
    run_stage(main)
