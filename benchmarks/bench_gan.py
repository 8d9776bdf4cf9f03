"""Benchmark of the gan/anomaly pipelines, each figure a ratio against a reference in the same run.

1. DCGAN training throughput (images/s) of the stage's machinery (core Trainer: objective object,
   AMP scaler calls, tqdm, per-epoch metrics, resume checkpoints) vs a plain PyTorch loop over the
   same networks, optimizers and data. Goal: >= 0.95 of the plain loop.
2. Anomaly scoring seconds per image: AnoGAN (z search, default steps) vs Efficient GAN (one E(x)).

Runs on the default params' embedded data (params.yaml). Usage: python benchmarks/bench_gan.py
[--epochs 20] [--repeats 3]; on a busy shared machine more, shorter repeats (``--epochs 10 --repeats 5``)
give the best-of-N figure a better chance of a quiet spell for both loops.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.anomaly import efficientgan  # noqa: E402
from stages.anomaly.anogan import search_z  # noqa: E402
from stages.anomaly.evaluate import efficientgan_scores  # noqa: E402
from stages.anomaly.params import AnomalyParams  # noqa: E402
from stages.core.device import setup_torch  # noqa: E402
from stages.gan import digits  # noqa: E402
from stages.core.gan_nets import GanConfig, build  # noqa: E402
from stages.gan.params import GanParams  # noqa: E402
from stages.core.training import TrainingRun  # noqa: E402
from stages.gan.training import gan_parts  # noqa: E402

EPOCHS = 20
REPEATS = 3
SEED = 42


def load_params() -> tuple[GanParams, AnomalyParams]:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    return GanParams.model_validate(raw["gan"]), AnomalyParams.model_validate(raw["anomaly"])


def data(gp: GanParams) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, name = digits.load_source(gp.digits)
    train, test = digits.split_digits(labels, gp.digits, name)
    return torch.from_numpy(digits.resize(images[train], gp.digits.image_px)), torch.from_numpy(digits.resize(images[test], gp.digits.image_px))


def stage_loop(x: torch.Tensor, gp: GanParams, device, ckpt_dir: Path) -> tuple[float, list[float]]:
    """Images/s of the stage's trainer (resume checkpoints included), and each epoch's seconds."""
    p = gp.dcgan.model_copy(update={"epochs": EPOCHS})
    run = TrainingRun("gan-dcgan", p, kind="dcgan", device=device.type, seed=SEED)
    trainer = run.build(**gan_parts("dcgan", p, x.shape[-1]), data=x, key="bench", resume=ckpt_dir / "last.pt")
    start = time.perf_counter()
    trainer.fit(x)
    seconds = time.perf_counter() - start
    trainer.discard_resume()
    return EPOCHS * (len(x) // p.batch_size) * p.batch_size / seconds, [r["seconds"] for r in trainer.history]


def plain_loop(x: torch.Tensor, gp: GanParams, device) -> tuple[float, list[float]]:
    """Images/s of a hand-written loop (same networks, optimizers, losses, batches), and each epoch's seconds."""
    p = gp.dcgan
    setup_torch(SEED, device.type)
    g, d = build("dcgan", GanConfig(x.shape[-1], p.z_dim, p.channels).as_dict())
    g, d = g.to(device).train(), d.to(device).train()
    opt_g = torch.optim.Adam(g.parameters(), p.lr_of("g"), betas=p.betas)
    opt_d = torch.optim.Adam(d.parameters(), p.lr_of("d"), betas=p.betas)
    shuffle = torch.Generator().manual_seed(SEED)
    x = x.to(device)
    n, bs = len(x), p.batch_size
    start = time.perf_counter()
    epochs = []
    for _ in range(EPOCHS):
        epoch_start = time.perf_counter()
        perm = torch.randperm(n, generator=shuffle)
        for i in range(0, n - bs + 1, bs):
            real = x[perm[i:i + bs].to(device)]
            with torch.no_grad():  # as the objective: no generator graph in D's step
                fake = g(torch.randn(bs, p.z_dim, device=device))
            d_real, d_fake = d(real), d(fake)
            loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d_gen = d(g(torch.randn(bs, p.z_dim, device=device)))
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        epochs.append(time.perf_counter() - epoch_start)
    return EPOCHS * (n // bs) * bs / (time.perf_counter() - start), epochs


def scoring(test: torch.Tensor, gp: GanParams, ap: AnomalyParams, device) -> dict[str, float]:
    """Seconds per image of each method's scoring (untrained weights: the cost does not depend on them)."""
    setup_torch(SEED, device.type)
    g, d = build("dcgan", GanConfig(test.shape[-1], gp.dcgan.z_dim, gp.dcgan.channels).as_dict())
    g, d = (net.to(device).eval().requires_grad_(False) for net in (g, d))
    x = test.to(device)
    start = time.perf_counter()
    search_z(g, d, x, ap.anogan, ap.score.lam, SEED)
    anogan = (time.perf_counter() - start) / len(x)
    run = TrainingRun("anomaly-efficientgan", ap.efficientgan, kind="efficientgan", device=device.type, seed=SEED)
    trainer = run.build(**efficientgan.efficientgan_parts(ap.efficientgan, test.shape[-1]), data=test)
    eg, ee, ed = (trainer.models[k].eval().requires_grad_(False) for k in "ged")
    efficientgan_scores(eg, ee, ed, x[:2], ap.score.lam)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        efficientgan_scores(eg, ee, ed, x, ap.score.lam)
        times.append((time.perf_counter() - start) / len(x))
    return {"anogan_s_per_image": anogan, "efficientgan_s_per_image": statistics.median(times)}


def main() -> None:
    import argparse

    global EPOCHS, REPEATS
    cli = argparse.ArgumentParser(description="GAN training throughput vs a plain loop; anomaly scoring speed")
    cli.add_argument("--epochs", type=int, default=EPOCHS)
    cli.add_argument("--repeats", type=int, default=REPEATS)
    args = cli.parse_args()
    EPOCHS, REPEATS = args.epochs, args.repeats
    gp, ap = load_params()
    device = setup_torch(SEED, "auto")
    x, test = data(gp)
    plain, stage, plain_epochs, stage_epochs = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        stage_loop(x[:64], gp, device, Path(tmp))  # warm-up (allocator, kernels), not measured
        for _ in range(REPEATS):  # interleaved, so a slow spell of a shared machine hits both
            for runs, epochs, (rate, seconds) in ((plain, plain_epochs, plain_loop(x, gp, device)),
                                                  (stage, stage_epochs, stage_loop(x, gp, device, Path(tmp)))):
                runs.append(rate)
                epochs.extend(seconds)
    per_epoch = (len(x) // gp.dcgan.batch_size) * gp.dcgan.batch_size
    times = scoring(test, gp, ap, device)
    result = {
        "device": device.type, "threads": torch.get_num_threads(), "image_size": gp.digits.image_px,
        "n_train": len(x), "epochs": EPOCHS, "repeats": REPEATS,
        "plain_images_per_s": max(plain), "stage_images_per_s": max(stage),
        "throughput_ratio": max(stage) / max(plain), "throughput_goal": 0.95,
        # the fastest epoch of each (a trainer epoch includes its resume checkpoint): on a shared,
        # busy machine the best of many short spans is a steadier estimate than the best whole run
        "plain_best_epoch_images_per_s": per_epoch / min(plain_epochs),
        "stage_best_epoch_images_per_s": per_epoch / min(stage_epochs),
        "epoch_throughput_ratio": min(plain_epochs) / min(stage_epochs),
        **times, "anogan_steps": ap.anogan.steps,
        "efficientgan_speedup": times["anogan_s_per_image"] / times["efficientgan_s_per_image"],
    }
    print(f"{'measure':<42}{'value':>14}")
    print(f"{'DCGAN plain loop, images/s (best of ' + str(REPEATS) + ')':<42}{result['plain_images_per_s']:>14.0f}")
    print(f"{'DCGAN stage trainer, images/s':<42}{result['stage_images_per_s']:>14.0f}")
    print(f"{'ratio stage / plain (goal >= 0.95)':<42}{result['throughput_ratio']:>14.3f}")
    print(f"{'ratio of the best epochs (' + str(REPEATS * EPOCHS) + ' each)':<42}{result['epoch_throughput_ratio']:>14.3f}")
    print(f"{'AnoGAN s/image (' + str(ap.anogan.steps) + ' steps)':<42}{result['anogan_s_per_image']:>14.5f}")
    print(f"{'Efficient GAN s/image':<42}{result['efficientgan_s_per_image']:>14.6f}")
    print(f"{'Efficient GAN speed-up':<42}{result['efficientgan_speedup']:>14.0f}x")
    out = ROOT / "benchmarks" / "results" / "gan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    np.random.seed(SEED)
    main()
