"""Benchmark of the diffusion pipeline: the quality/speed table over seeds, and sampler throughput.

1. The table of `diffusion-evaluate` (DDPM over T steps; each DDIM setting of params.yaml) over
   ``--seeds`` training seeds: FID (judge features), validity, network evaluations and seconds per
   sample, mean and spread over the seeds, plus the goal lines (issue 20, the DDIM paper's shape): the mean
   FID of DDIM η = 0 non-increasing in S, and DDIM S = 50 within 1.5x of DDPM's mean FID at 20x fewer
   evaluations. Each seed trains the U-Net from scratch with the stage's code
   (:func:`stages.diffusion.train.ddpm_parts` on the core training stage) on the embedded default data; the judge is trained once.
   Seconds are wall clock of this run, measured on this host (not comparable across hosts).
2. Sampler throughput: network evaluations per second of :func:`ddim_sample` (S = 100, η = 0) vs a
   plain loop calling the same network on the same inputs S times. Goal: >= 0.95 of the plain loop.
   Best of ``--repeats`` for both, interleaved, so a busy spell on a shared machine hits both alike.

3. ``--pipeline``: instead of 1 and 2, the whole pipeline as a user runs it: ``dvc repro diffusion-evaluate``
   in a fresh temporary copy of the project (nothing cached), wall clock and the CPU seconds (user + system)
   of every process it ran; results in benchmarks/results/diffusion-pipeline.json. Goal: <= 4 min on 2 cores.

Also draws the time-vs-steps figure (wall clock, so it is made here and not by a DVC stage):
docs/figures/diffusion-time-vs-steps.png. Usage: python benchmarks/bench_diffusion.py [--seeds 3]
[--epochs N (default: params.yaml's)] [--repeats 5]; results in benchmarks/results/diffusion.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.core.figures import new_figure, save  # noqa: E402
from stages.core.params import parse_params, validate_section  # noqa: E402
from stages.core.batches import TensorData  # noqa: E402
from stages.core.training import TrainingRun  # noqa: E402
from stages.diffusion.data import load_source, split  # noqa: E402
from stages.diffusion.evaluate import score  # noqa: E402
from stages.diffusion.data import to_model_range  # noqa: E402
from stages.diffusion.judge import judge_parts  # noqa: E402
from stages.diffusion.params import DiffusionParams  # noqa: E402
from stages.diffusion.quality import Judge, JudgeConfig  # noqa: E402
from stages.diffusion.sample import run_sampler, samplers  # noqa: E402
from stages.diffusion.schedule import ddim_sample, make_schedule, step_sequence  # noqa: E402
from stages.diffusion.train import ddpm_parts, unet_config  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import make_repo, write_result  # noqa: E402


def time_pipeline() -> dict:
    """``dvc repro diffusion-evaluate`` from scratch in a temporary copy: wall and children's CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = repo.dvc("repro", "diffusion-evaluate")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        metrics = (repo.path / "artifacts/diffusion/evaluate/metrics.json").read_text()
    return {"wall_seconds": wall, "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "stages": repo.ran_stages(proc), "goal_seconds": 240, "metrics": json.loads(metrics)}


def load_params(epochs: int | None, schedule: str | None = None, clip: bool | None = None,
                eta0_only: bool = False) -> DiffusionParams:
    """params.yaml's diffusion section, with the benchmark's overrides (for the ablation in docs/diffusion.md)."""
    data = parse_params((ROOT / "params.yaml").read_text())
    p = validate_section(data, "diffusion", DiffusionParams)
    train = {k: v for k, v in (("epochs", epochs), ("schedule", schedule)) if v is not None}
    sample = {"clip_x0": clip} if clip is not None else {}
    if eta0_only:
        sample["ddim"] = [d for d in p.sample.ddim if d.eta == 0]
    return p.model_copy(update={"train": p.train.model_copy(update=train), "sample": p.sample.model_copy(update=sample)})


def train_judge(p: DiffusionParams, train, labels, seed: int) -> Judge:
    cfg = JudgeConfig(in_channels=train.shape[1], image_px=train.shape[-1], channels=p.judge.channels,
                      features=p.judge.features, classes=int(labels.max()) + 1)
    run = TrainingRun("diffusion-judge", p.judge, kind="diffusion-judge", device="cpu", seed=seed)
    trainer = run.build(**judge_parts(cfg), data=train)
    trainer.fit(TensorData(train, labels))
    net = trainer.models["judge"]
    return net.eval().requires_grad_(False)


def one_seed(p: DiffusionParams, seed: int, train, heldout, judge) -> tuple[list[dict], dict, torch.nn.Module]:
    """Train the U-Net with ``seed``, run every sampler (timed), score them."""
    run = TrainingRun(f"ddpm seed {seed}", p.train, kind="ddpm", device="cpu", seed=seed)
    trainer = run.build(**ddpm_parts(p.train, unet_config(p.train, train.shape[1], train.shape[-1])), data=train)
    start = time.perf_counter()
    trainer.fit(train)
    train_s = time.perf_counter() - start
    net = trainer.ema_model("unet").eval().requires_grad_(False)
    s = make_schedule(p.train.schedule, p.train.beta_1, p.train.beta_T, p.train.timesteps)
    settings = samplers(p)
    x_T = torch.randn((p.sample.n_samples, *train.shape[1:]), generator=torch.Generator().manual_seed(seed))
    samples, seconds = {}, {}
    for k, setting in enumerate(settings):
        t0 = time.perf_counter()
        x, _ = run_sampler(net, s, setting, x_T, p.sample.batch_size, seed + 1 + k, p.sample.variance, (), p.sample.clip_x0)
        seconds[setting["name"]] = (time.perf_counter() - t0) / len(x)
        samples[setting["name"]] = x.numpy()
    metrics, rows, _ = score(judge, train, heldout, samples, settings, p.evaluate.confidence)
    for r in rows:
        r["seconds_per_sample"] = seconds[r["name"]]
    return rows, {"floor_fid": metrics["floor_fid"], "train_seconds": train_s, **metrics.get("goal_ddim50", {})}, net


def throughput(net, p: DiffusionParams, shape, repeats: int, steps: int = 100) -> dict:
    """Evaluations/s of the DDIM sampler vs a plain loop over the same network (best of ``repeats``)."""
    s = make_schedule(p.train.schedule, p.train.beta_1, p.train.beta_T, p.train.timesteps)
    seq = step_sequence(s.T, steps, "uniform")
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def plain():
        x = x_T
        for t in reversed(seq):
            net(x, torch.full((len(x),), t, dtype=torch.long))
        return x

    sampler_t, plain_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ddim_sample(net, s, x_T, seq, 0.0, clip=p.sample.clip_x0)
        sampler_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain()
        plain_t.append(time.perf_counter() - t0)
    evals = steps * shape[0]
    return {"steps": steps, "batch": shape[0], "sampler_evals_per_s": evals / min(sampler_t),
            "plain_evals_per_s": evals / min(plain_t), "ratio": min(plain_t) / min(sampler_t), "goal": 0.95}


def summarise(per_seed: list[list[dict]]) -> list[dict]:
    out = []
    for i, row in enumerate(per_seed[0]):
        vals = {k: [rows[i][k] for rows in per_seed] for k in ("fid", "validity", "seconds_per_sample")}
        out.append({**{k: row[k] for k in ("name", "sampler", "steps", "eta", "evaluations")},
                    **{f"{k}_mean": statistics.mean(v) for k, v in vals.items()},
                    **{f"{k}_sd": statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in vals.items()}})
    return out


def time_figure(table: list[dict], path: Path) -> None:
    fig, ax = new_figure(1, 1, figsize=(4.5, 3.2))
    ddim = sorted((r for r in table if r["sampler"] == "ddim" and r["eta"] == 0), key=lambda r: r["evaluations"])
    ax.plot([r["evaluations"] for r in ddim], [r["seconds_per_sample_mean"] for r in ddim], "o-", label="DDIM η=0")
    for r in table:
        if r["sampler"] == "ddpm":
            ax.plot(r["evaluations"], r["seconds_per_sample_mean"], "s", color="C3", label="DDPM")
        elif r["eta"] != 0:
            ax.plot(r["evaluations"], r["seconds_per_sample_mean"], "^", color="C2", label=f"DDIM η={r['eta']:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network evaluations per sample")
    ax.set_ylabel("seconds per sample (CPU, wall)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="U-Net epochs (default: params.yaml's)")
    ap.add_argument("--schedule", choices=["linear", "cosine"], default=None, help="β schedule (default: params.yaml's)")
    ap.add_argument("--clip", choices=["on", "off"], default=None, help="clip_x0 (default: params.yaml's)")
    ap.add_argument("--eta0-only", action="store_true", help="only the η = 0 DDIM settings (and DDPM)")
    ap.add_argument("--out", default="diffusion", help="result name under benchmarks/results/ (default: diffusion)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pipeline", action="store_true", help="time `dvc repro diffusion-evaluate` from scratch instead")
    args = ap.parse_args()
    if args.pipeline:
        res = {**time_pipeline(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count(),
               "loadavg_after": os.getloadavg()}
        path = write_result("diffusion-pipeline", res)
        print(f"dvc repro diffusion-evaluate: {res['wall_seconds']:.1f} s wall, {res['cpu_seconds']:.1f} s CPU "
              f"({', '.join(res['stages'])}); written {path}")
        return
    p = load_params(args.epochs, args.schedule, None if args.clip is None else args.clip == "on", args.eta0_only)
    images, labels, source = load_source(p.data)
    tr_idx, held_idx = split(labels, p.data.heldout_per_class, p.data.train_per_class, source)
    train = torch.from_numpy(to_model_range(images[tr_idx], p.data.image_px))
    heldout = torch.from_numpy(to_model_range(images[held_idx], p.data.image_px))
    judge = train_judge(p, train, torch.from_numpy(labels[tr_idx]), 0)
    per_seed, extras, net = [], [], None
    for seed in range(args.seeds):
        rows, extra, net = one_seed(p, seed, train, heldout, judge)
        per_seed.append(rows)
        extras.append(extra)
        print(f"seed {seed}: " + ", ".join(f"{r['name']} FID {r['fid']:.2f} valid {r['validity']:.2f}" for r in rows), flush=True)
    table = summarise(per_seed)
    thr = throughput(net, p, (p.sample.batch_size, *train.shape[1:]), args.repeats)
    ratios = [e["fid_ratio"] for e in extras if "fid_ratio" in e]
    curve = sorted(((r["steps"], r["fid_mean"]) for r in table if r["sampler"] == "ddim" and r["eta"] == 0))
    ddpm = next((r["fid_mean"] for r in table if r["sampler"] == "ddpm"), None)
    ddim50 = dict(curve).get(50)
    result = {
        "setting": {"seeds": args.seeds, "epochs": p.train.epochs, "timesteps": p.train.timesteps, "ch": p.train.ch,
                    "schedule": p.train.schedule, "clip_x0": p.sample.clip_x0,
                    "n_samples": p.sample.n_samples, "threads": torch.get_num_threads()},
        "table": table, "floor_fid": [e["floor_fid"] for e in extras],
        "goal_ddim50": {"fid_ratio_per_seed": ratios, "fid_ratio_mean": statistics.mean(ratios) if ratios else None,
                        "ratio_of_mean_fids": ddim50 / ddpm if ddpm and ddim50 else None,
                        "evaluation_ratio": extras[0].get("evaluation_ratio"), "goal_fid_ratio": 1.5, "goal_evaluation_ratio": 20},
        "goal_ddim_curve": {"steps_and_mean_fid": curve,
                            "non_increasing": all(b[1] <= a[1] for a, b in zip(curve, curve[1:]))},
        "train_seconds": [e["train_seconds"] for e in extras],
        "throughput": thr,
    }
    path = write_result(args.out, result)
    if args.out == "diffusion":  # the committed figure comes from the default benchmark only
        time_figure(table, ROOT / "docs" / "figures" / "diffusion-time-vs-steps.png")
    for r in table:
        print(f"{r['name']:26s} evals {r['evaluations']:5d}  FID {r['fid_mean']:7.2f} ± {r['fid_sd']:.2f}  "
              f"validity {r['validity_mean']:.3f} ± {r['validity_sd']:.3f}  s/sample {r['seconds_per_sample_mean']:.4f}")
    print(f"floor FID {result['floor_fid'][0]:.3f}; DDIM50/DDPM FID ratio {result['goal_ddim50']}")
    print(f"DDIM eta=0 mean FID by S {result['goal_ddim_curve']}")
    print(f"throughput: sampler {thr['sampler_evals_per_s']:.0f} evals/s, plain {thr['plain_evals_per_s']:.0f}, ratio {thr['ratio']:.3f}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
