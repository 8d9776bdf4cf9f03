"""Benchmark of the sequence pipeline, each figure a ratio against a reference in the same run.

Training throughput (time steps per second, each run's sequences x their length) of
``sequence-memory``'s machinery (core's trainer with the side-by-side objective: every cell and seed
updated in turn, each with its own Adam, batch order, cosine schedule and clipping, per-update traces
of loss and gradient norm) against a plain PyTorch loop doing the same work on the same networks.
Goal: >= 0.95 of the plain loop. Both run ``--updates`` updates per run, best of ``--repeats``
rounds taken in turn.

With ``--stages``, the wall time of each sequence stage's last run on this host is printed from the
run records (``dvc repro sequence-bptt sequence-memory`` first).

Usage: ``python benchmarks/bench_sequence.py [--updates 150] [--repeats 3] [--threads N] [--stages]``.
Writes ``benchmarks/results/bench_sequence.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from stages.core.device import setup_torch  # noqa: E402
from stages.core.recipe import lr_factor  # noqa: E402
from stages.core.runs import read_run_record  # noqa: E402
from stages.core.side_by_side import Run, seed_names, side_by_side_parts  # noqa: E402
from stages.core.training import TrainingRun  # noqa: E402
from stages.sequence import params  # noqa: E402
from stages.sequence.adding import adding_problem, mse_loss, net_args, recurrent_net  # noqa: E402

SEED = 42


def runs_of(p: params.MemoryParams, x, y) -> dict[str, Run]:
    runs = {}
    for cell in p.cells:
        args = net_args(cell, p.hidden, p.forget_bias)
        for name, seed in seed_names(cell, SEED, p.seeds).items():
            runs[name] = Run(net=lambda a=args: recurrent_net(a), loss=mse_loss, seed=seed, data=(x, y), args=args)
    return runs


def stage_loop(p: params.MemoryParams, x, y) -> float:
    """Seconds of the stage's trainer for one pass over ``x``."""
    run = TrainingRun("bench-sequence", p, kind="sequence-memory", device="cpu", seed=SEED)
    trainer = run.build(**side_by_side_parts(runs_of(p, x, y), p.batch_size, trace=True), key="bench", resume=None)
    start = time.perf_counter()
    trainer.fit(side_by_side_parts(runs_of(p, x, y), p.batch_size)["data"])
    return time.perf_counter() - start


def plain_loop(p: params.MemoryParams, x, y) -> float:
    """Seconds of a plain loop doing the same work (each run its own net, Adam, order, schedule, clipping)."""
    setup_torch(SEED, "cpu")
    runs = runs_of(p, x, y)
    nets, opts, scheds, gens = {}, {}, {}, {}
    updates = -(-len(x) // p.batch_size)
    for name, r in runs.items():
        torch.manual_seed(r.seed)
        nets[name] = r.net()
        opts[name] = torch.optim.Adam(nets[name].parameters(), lr=p.lr)
        scheds[name] = torch.optim.lr_scheduler.LambdaLR(opts[name], lr_factor(p.lr_schedule, 0, updates))
        gens[name] = torch.Generator().manual_seed(r.seed)
    perms = {n: torch.randperm(len(x), generator=g) for n, g in gens.items()}
    traces = {n: [] for n in runs}
    start = time.perf_counter()
    for i in range(updates):
        for name, net in nets.items():
            idx = perms[name][i * p.batch_size:(i + 1) * p.batch_size]
            opts[name].zero_grad(set_to_none=True)
            loss = mse_loss(net, (x[idx], y[idx]))
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(net.parameters(), p.clip_grad_norm)
            opts[name].step()
            scheds[name].step()
            traces[name].append((float(loss.detach()), float(norm)))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=150, help="updates per run (cell and seed) in each timing")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each figure is the best over them")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--stages", action="store_true", help="also print the sequence stages' last run times on this host")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    p = params.load().memory
    x, y = (torch.from_numpy(a) for a in adding_problem(np.random.default_rng(SEED), args.updates * p.batch_size, p.steps))
    best = {"stage": float("inf"), "plain": float("inf")}
    for _ in range(args.repeats):
        best["plain"] = min(best["plain"], plain_loop(p, x, y))
        best["stage"] = min(best["stage"], stage_loop(p, x, y))
    runs = len(p.cells) * p.seeds
    steps = runs * len(x) * p.steps
    result = {"threads": torch.get_num_threads(), "runs": runs, "updates_per_run": args.updates, "batch_size": p.batch_size,
              "sequence_length": p.steps, "plain_steps_per_s": steps / best["plain"], "stage_steps_per_s": steps / best["stage"],
              "stage_over_plain": best["plain"] / best["stage"], "goal": ">= 0.95"}
    print(f"sequence-memory, {runs} runs x {args.updates} updates of {p.batch_size} x {p.steps} steps: plain loop "
          f"{result['plain_steps_per_s']:,.0f} steps/s, stage's trainer {result['stage_steps_per_s']:,.0f} steps/s "
          f"({result['stage_over_plain']:.3f}x of the plain loop; goal >= 0.95)")
    if args.stages:
        result["stage_seconds"] = {}
        for stage in ("sequence-bptt", "sequence-memory"):
            record = read_run_record(stage, ROOT)
            seconds = record.get("wall_seconds") if record else None
            result["stage_seconds"][stage] = seconds
            print(f"{stage}: {'no run record (run dvc repro first)' if seconds is None else f'{seconds:.1f} s'}")
    print(f"written to {write_result('bench_sequence', result)}")


if __name__ == "__main__":
    main()
