"""Test accuracy of the nlp pipeline over several seeds, each with its bootstrap 95% interval.

Copies the project to a temporary repository (as the tests do), applies ``--set`` values to its
params.yaml, then for each ``common.seed`` runs ``dvc repro nlp-evaluate`` and reads
``artifacts/nlp/evaluate/metrics.json`` and ``artifacts/nlp/train/history.csv``. The split does not
depend on ``common.seed`` (``nlp.download.split_seed``, ``nlp.vocab.split_seed``), so every seed is
scored on the same 50 test sentences; the vectors, the initialisation and the batches change.

Usage (the figures of docs/nlp.md):
    python benchmarks/nlp_seeds.py                                  # the committed defaults
    python benchmarks/nlp_seeds.py --set nlp.vectors.dim=64 --set nlp.train.freeze_embedding=true \\
        --set nlp.train.epochs=30 --set nlp.train.lr=5.0e-4          # the defaults before (merge of issue 11)
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import make_repo, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml value (YAML)")
    ap.add_argument("--name", default="nlp_seeds", help="benchmarks/results/<name>.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp))
        for item in args.set:
            key, _, value = item.partition("=")
            repo.set_param(key, yaml.safe_load(value))
        for seed in args.seeds:
            repo.set_param("common.seed", seed)
            start = time.perf_counter()
            repo.dvc("repro", "nlp-evaluate")
            wall = time.perf_counter() - start
            art = repo.path / "artifacts/nlp"
            m = json.loads((art / "evaluate/metrics.json").read_text())
            with open(art / "train/history.csv") as f:
                history = list(csv.DictReader(f))
            row = {"seed": seed, "wall_s": round(wall, 1), "val_accuracy_last": float(history[-1]["val_accuracy"]),
                   "train_loss_last": float(history[-1]["loss_net"])}
            for name in ("transformer", "tfidf_logreg"):
                row[name] = [m[name]["accuracy"], m[name]["accuracy_low"], m[name]["accuracy_high"]]
            rows.append(row)
            print(json.dumps(row), flush=True)
    mean = {name: round(sum(r[name][0] for r in rows) / len(rows), 3) for name in ("transformer", "tfidf_logreg")}
    print("mean test accuracy over seeds", args.seeds, json.dumps(mean))
    write_result(args.name, {"set": args.set, "seeds": rows, "mean_accuracy": mean})


if __name__ == "__main__":
    main()
