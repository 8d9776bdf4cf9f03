"""Command line: ``python -m pipelines <command>``."""
from __future__ import annotations

import argparse
import logging
import sys

from pipelines.dag import pipelines, read_dag, select

EPILOG = """examples:
  python -m pipelines list                  pipelines and their stages, from dvc.yaml
  python -m pipelines run tabular           reproduce one pipeline as a Prefect flow
  python -m pipelines run all               every pipeline
  PREFECT_API_URL=http://127.0.0.1:4200/api python -m pipelines run tabular
                                            ... reported to a running Prefect server (UI)

Without PREFECT_API_URL the flow runs against a temporary local Prefect server.
`dvc repro` and `python -m pipelines run` run the same stages and write the same dvc.lock.
"""


def cmd_list(args: argparse.Namespace) -> int:
    dag = read_dag(".")
    for name, stages in pipelines(dag).items():
        print(f"{name}:")
        for s in stages:
            print(f"  {s}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    dag = read_dag(".")
    try:
        select(dag, args.names)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    from pipelines.flows import repro_flow

    state = repro_flow(args.names, root=".", return_state=True)
    if not state.is_completed():
        print(f"error: flow run {state.name}: {state.message}", file=sys.stderr)
        return 1
    result = state.result()
    width = max(map(len, result["stages"]), default=0)
    print("\n  " + "stage".ljust(width) + " outcome")
    for stage, what in result["stages"].items():
        print(f"  {stage.ljust(width)} {what}")
    for path, values in result["metrics"].items():
        print(f"\n{path}")
        for key, value in values.items():
            print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines",
        description="Run the project's DVC pipelines as Prefect flows (one task per DVC stage).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list pipelines and their stages (from dvc.yaml)")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("run", help="reproduce pipelines as a Prefect flow", description=(
        "Reproduce the named pipelines (or single stages, or 'all') and everything upstream of them. "
        "Each DVC stage is one Prefect task running `dvc repro --single-item`, so unchanged stages are skipped by DVC."))
    p.add_argument("names", nargs="+", metavar="PIPELINE", help="pipeline name (see `list`), stage name, or 'all'")
    p.set_defaults(func=cmd_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)
