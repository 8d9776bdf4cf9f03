"""Benchmark of the sequence pipeline's translators, each figure a ratio against a reference in the same run.

Training throughput (target tokens per second) of ``sequence-translate``'s machinery (core's trainer
with the side-by-side objective, length-grouped batches, padding trimmed per batch, Adam, cosine
schedule, clipping) against a plain PyTorch loop doing the same work on the same networks and
batches, for each model alone. Goal: >= 0.95 of the plain loop. Both run ``--updates`` updates of
the default batch size on ``sequence-pairs``' training split, best of ``--repeats`` rounds in turn.

With ``--stages``, the wall time of every sequence stage's last run on this host and their sum are
printed from the run records (``dvc repro`` of the sequence stages first).

Usage: ``python benchmarks/bench_translate.py [--updates 30] [--repeats 3] [--stages]`` (after
``dvc repro sequence-pairs``). Writes ``benchmarks/results/bench_translate.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from stages.core.device import setup_torch  # noqa: E402
from stages.core.recipe import lr_factor  # noqa: E402
from stages.core.runs import read_run_record  # noqa: E402
from stages.core.side_by_side import Run, length_grouped, side_by_side_parts  # noqa: E402
from stages.core.training import TrainingRun  # noqa: E402
from stages.sequence import params  # noqa: E402
from stages.sequence.parallel import load_split  # noqa: E402
from stages.sequence.translators import KIND, build, net_args, translation_loss  # noqa: E402

SEED = 42
STAGES = ("sequence-bptt", "sequence-memory", "sequence-dates", "sequence-pairs", "sequence-word2vec", "sequence-translate",
          "sequence-evaluate")


def args_of(p: params.TranslateParams, model: str, src_vocab: int, tgt_vocab: int) -> dict:
    return net_args(model, src_vocab, tgt_vocab, emb=p.emb, hidden=p.hidden, d_model=p.d_model, heads=p.heads, layers=p.layers,
                    feedforward=p.feedforward, dropout=p.dropout)


def stage_loop(p: params.TranslateParams, args: dict, data: tuple, lengths) -> float:
    """Seconds of the stage's trainer for one pass over ``data``."""
    run = TrainingRun("bench-translate", p, kind=KIND, device="cpu", seed=SEED)
    runs = {"net": Run(net=lambda: build(args), loss=translation_loss, seed=SEED, data=data, args=args, lengths=lengths)}
    parts = side_by_side_parts(runs, p.batch_size)
    trainer = run.build(**parts, key="bench", resume=None)
    start = time.perf_counter()
    trainer.fit(parts["data"])
    return time.perf_counter() - start


def plain_loop(p: params.TranslateParams, args: dict, data: tuple, lengths) -> float:
    """Seconds of a plain loop doing the same work: the same network, batches, Adam, schedule and clipping."""
    setup_torch(SEED, "cpu")
    torch.manual_seed(SEED)
    net = build(args)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    updates = -(-len(data[0]) // p.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(p.lr_schedule, 0, updates))
    g = torch.Generator().manual_seed(SEED)
    order = length_grouped(torch.randperm(len(data[0]), generator=g), lengths, p.batch_size, g)
    net.train()
    start = time.perf_counter()
    for idx in order.split(p.batch_size):
        opt.zero_grad(set_to_none=True)
        loss = translation_loss(net, tuple(t[idx] for t in data))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), p.clip_grad_norm)
        opt.step()
        sched.step()
        float(loss.detach())
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=30, help="updates per model in each timing")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each figure is the best over them")
    ap.add_argument("--stages", action="store_true", help="also print the sequence stages' last run times on this host")
    args = ap.parse_args()
    p = params.load().translate.model_copy(update={"epochs": 1})  # one pass over the --updates batches, in both loops
    folder = ROOT / "artifacts/sequence/pairs/pairs"
    if not folder.is_dir():
        sys.exit(f"{folder}: not found; run `dvc repro sequence-pairs` first")
    src_vocab, tgt_vocab, _, _, train = load_split(folder, "train", p.direction)
    n = min(len(train[0]), args.updates * p.batch_size)
    data = tuple(t[:n] for t in train)
    lengths = data[1] + (data[3] != 0).sum(1)
    tokens = int((data[3] != 0).sum())
    result: dict = {"threads": torch.get_num_threads(), "updates": -(-n // p.batch_size), "batch_size": p.batch_size,
                    "target_tokens": tokens, "models": {}, "goal": ">= 0.95"}
    for model in p.models:
        net_args_ = args_of(p, model, len(src_vocab), len(tgt_vocab))
        best = {"stage": float("inf"), "plain": float("inf")}
        for _ in range(args.repeats):
            best["plain"] = min(best["plain"], plain_loop(p, net_args_, data, lengths))
            best["stage"] = min(best["stage"], stage_loop(p, net_args_, data, lengths))
        row = {"plain_tokens_per_s": tokens / best["plain"], "stage_tokens_per_s": tokens / best["stage"],
               "stage_over_plain": best["plain"] / best["stage"]}
        result["models"][model] = row
        print(f"{model}: plain loop {row['plain_tokens_per_s']:,.0f} target tokens/s, stage's trainer "
              f"{row['stage_tokens_per_s']:,.0f} ({row['stage_over_plain']:.3f}x of the plain loop; goal >= 0.95)", flush=True)
    if args.stages:
        result["stage_seconds"] = {}
        for stage in STAGES:
            record = read_run_record(stage, ROOT)
            seconds = record.get("wall_seconds") if record else None
            result["stage_seconds"][stage] = seconds
            print(f"{stage}: {'no run record (run dvc repro first)' if seconds is None else f'{seconds:.1f} s'}")
        known = [s for s in result["stage_seconds"].values() if s is not None]
        result["pipeline_seconds"] = sum(known) if len(known) == len(STAGES) else None
        print(f"the whole pipeline: {result['pipeline_seconds'] or 'incomplete'} s (goal <= 240 s)")
    print(f"written to {write_result('bench_translate', result)}")


if __name__ == "__main__":
    main()
