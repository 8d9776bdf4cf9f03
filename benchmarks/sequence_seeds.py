"""A sequence stage's goals over more seeds.

``--stage`` (``sequence-memory``, ``sequence-dates`` or ``sequence-evaluate``, which runs the
translators' stages before it)
rerun with ``common.seed`` = each ``--starts`` value (its runs then take seeds s, s + 1, … up to the
stage's ``seeds``), its per-run results and goals.

Copies the project to a temporary repository (as the tests do), applies ``--set`` values to its
params.yaml, and for each start runs ``dvc repro <stage>``, reading its ``metrics.json``. The
training and test data are generated from the same ``common.seed``, so a start changes the data,
the initial weights and the batch order together.

Usage (the figures of docs/sequence.md):
    python benchmarks/sequence_seeds.py                       # the memory probe, seed sets 0-2 and 7-9
    python benchmarks/sequence_seeds.py --starts 100 --set sequence.memory.train_sequences=128000
    python benchmarks/sequence_seeds.py --stage sequence-dates --starts 42 43 44
    python benchmarks/sequence_seeds.py --stage sequence-evaluate --starts 42 --set sequence.translate.seeds=3
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BIN, repo_with, run_env, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", default="sequence-memory", choices=["sequence-memory", "sequence-dates", "sequence-evaluate"])
    ap.add_argument("--starts", type=int, nargs="+", default=[0, 7], help="common.seed of each seed set")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml value (YAML)")
    ap.add_argument("--name", default=None, help="benchmarks/results/<name>.json (default: <stage>_seeds)")
    args = ap.parse_args()
    args.name = args.name or f"{args.stage.replace('-', '_')}_seeds"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = repo_with(Path(tmp), args.set)
        for start in args.starts:
            repo.set_param("common.seed", start)
            began = time.perf_counter()
            # cold stage processes (every torch thread; a forked warm one has one) and no 15-minute limit
            repo.run(str(BIN / "dvc"), "repro", args.stage, env=run_env(REPROLAB_FORKSERVER=""), timeout=24 * 3600)
            m = json.loads((repo.path / f"artifacts/sequence/{args.stage.split('-', 1)[1]}/metrics.json").read_text())
            row = {"start": start, "wall_s": round(time.perf_counter() - began, 1),
                   **{k: m[k] for k in ("test_mse", "cells", "exact_match", "runs", "models") if k in m},
                   "goals": {k: {"value": g["value"], "met": g["met"]} for k, g in m["goals"].items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_result(args.name, {"stage": args.stage, "set": args.set, "seed_sets": rows})


if __name__ == "__main__":
    main()
