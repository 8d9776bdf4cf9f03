"""Test accuracy of the nlp pipeline over several seeds, each with its bootstrap 95% interval, and the
whole pipeline's wall-clock time.

Copies the project to a temporary repository (as the tests do), applies ``--set`` values to its
params.yaml, then for each ``common.seed`` runs ``dvc repro nlp-evaluate nlp-japanese`` and reads
``artifacts/nlp/evaluate/metrics.json`` and ``artifacts/nlp/train/history.csv``. The first seed runs
every nlp stage from nothing: its wall time is the whole pipeline's (the goal: <= 3 min on 2 cores);
later seeds rerun only what ``common.seed`` changes (vectors, Japanese vectors, train, evaluate). The
split does not depend on ``common.seed`` (``nlp.download.split_seed``, ``nlp.vocab.split_seed``), so
every seed is scored on the same test sentences; the vectors, the initialisation and the batches change.
Each row also gives the host's 1-minute load average at the end (a shared host slows every stage).

Usage (the figures of docs/nlp.md):
    python benchmarks/nlp_seeds.py                                  # the committed defaults
    python benchmarks/nlp_seeds.py --set nlp.train.epochs=6 --name nlp_seeds_6_epochs
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import repo_with, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml value (YAML)")
    ap.add_argument("--name", default="nlp_seeds", help="benchmarks/results/<name>.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = repo_with(Path(tmp), args.set)
        for seed in args.seeds:
            repo.set_param("common.seed", seed)
            start = time.perf_counter()
            proc = repo.dvc("repro", "nlp-evaluate", "nlp-japanese")
            wall = time.perf_counter() - start
            art = repo.path / "artifacts/nlp"
            m = json.loads((art / "evaluate/metrics.json").read_text())
            with open(art / "train/history.csv") as f:
                history = list(csv.DictReader(f))
            row = {"seed": seed, "wall_s": round(wall, 1), "stages_run": re.findall(r"Running stage '([^']+)'", proc.stdout),
                   "load_average_1min": round(os.getloadavg()[0], 2), "val_accuracy_last": float(history[-1]["val_accuracy"]),
                   "train_loss_last": float(history[-1]["loss_net"])}
            row["n_test"] = m["n_test"]
            for name in ("transformer", "tfidf_logreg"):
                row[name] = [m[name]["accuracy"], m[name]["accuracy_low"], m[name]["accuracy_high"]]
            rows.append(row)
            print(json.dumps(row), flush=True)
    mean = {name: round(sum(r[name][0] for r in rows) / len(rows), 3) for name in ("transformer", "tfidf_logreg")}
    print("mean test accuracy over seeds", args.seeds, json.dumps(mean))
    write_result(args.name, {"set": args.set, "seeds": rows, "mean_accuracy": mean})


if __name__ == "__main__":
    main()
