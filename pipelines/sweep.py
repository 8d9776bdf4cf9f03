"""Parameter sweeps on DVC's experiment queue: one queued experiment per combination, N queue workers.

    python -m pipelines sweep tabular -S tabular.train.C=0.1,1,10 -S tabular.train.kernel=rbf,linear -j 2
    python -m pipelines sweep tabular -S tabular.train.C=0.1,1,10 --sort test_accuracy --apply-best

DVC does the work: ``dvc exp run --queue --name … --set-param …`` stashes one experiment per
combination (the cartesian product of the ``-S`` lists), ``dvc queue start -j N`` runs them on N
workers, each in its own temporary copy of the repository (``.dvc/tmp/exps/``) sharing the DVC cache,
so unchanged upstream stages are restored from the run-cache instead of rerun. This module only
queues, waits for the queue, and reads the results back (``dvc exp show --json``) into one table: the
swept params and the pipeline's metrics per experiment, sorted by the pipeline's headline metric
(``meta.headline`` in dvc.yaml, e.g. tabular-evaluate's test_accuracy) or ``--sort``, the best marked.
``--apply-best`` runs ``dvc exp apply`` on it, so the change shows in ``git diff``. An experiment that
failed is listed with its error line from ``dvc queue logs``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.dag import Headline, flatten, headline, pipelines, read_dag
from pipelines.dvc_command import TAIL_LINES, DvcError, dvc, dvc_executable

log = logging.getLogger(__name__)

FINAL = ("Success", "Failed")  # `dvc queue status` states of a finished task


class SweepError(RuntimeError):
    """The sweep cannot start or DVC failed; the message says why (DVC's last lines included)."""


@dataclass
class Result:
    name: str
    params: dict[str, object]                     # the swept keys -> values
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""                               # the failed experiment's error line
    best: bool = False


# ---- pure parts -----------------------------------------------------------------------------------

def split_values(text: str) -> list[str]:
    """``0.1,1,10`` -> ['0.1', '1', '10']; commas inside [...] or {...} stay (``[1, 2],[3]`` is two lists)."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    out.append(current.strip())
    if any(v == "" for v in out):
        raise SweepError(f"empty value in '{text}' (write -S key=v1,v2,…)")
    return out


def parse_sets(sets: list[str]) -> dict[str, list[str]]:
    """``["a.b=1,2", "c=x"]`` -> ``{"a.b": ["1", "2"], "c": ["x"]}`` (values as written: YAML text).

    Raises:
        SweepError: no ``=``, an empty key or value, or a key given twice.
    """
    grid: dict[str, list[str]] = {}
    for item in sets:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"-S {item}: expected key=v1,v2,… (e.g. -S tabular.train.C=0.1,1,10)")
        if key in grid:
            raise SweepError(f"-S {key} given twice: list all its values in one -S")
        grid[key] = split_values(values)
    if not grid:
        raise SweepError("nothing to sweep: give at least one -S key=v1,v2,…")
    return grid


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the grid's values, first key varying slowest."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def yaml_value(text: str):
    """A value as DVC's ``--set-param`` reads it (YAML 1.2)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(text)


def check_params(params_text: str, combos: list[dict[str, str]], pipeline: str) -> None:
    """Validate each combination against the params schemas before anything is queued.

    Raises:
        SweepError: a key outside the pipeline's section, an unknown key, or a value its schema refuses.
    """
    from stages.core.errors import StageError
    from stages.core.params import parse_params, validate_all

    for combo in combos:
        data = parse_params(params_text)
        for key, value in combo.items():
            *parents, leaf = key.split(".")
            node = data
            for part in parents:
                if not isinstance(node, dict) or part not in node:
                    raise SweepError(f"-S {key}: params.yaml has no '{part}' on that path")
                node = node[part]
            if not isinstance(node, dict) or leaf not in node:
                raise SweepError(f"-S {key}: params.yaml has no key '{leaf}' there (a typo?)")
            node[leaf] = yaml_value(value)
        try:
            validate_all(data)
        except StageError as exc:
            raise SweepError(f"{', '.join(f'{k}={v}' for k, v in combo.items())}: {exc}") from None


def check_keys(keys: list[str], dag, pipeline: str) -> None:
    """Every swept key must be a param that a stage the pipeline's experiments run reads (its ``params:``
    in dvc.yaml): a key no such stage reads would make every experiment identical.

    Raises:
        SweepError: a key none of them reads (the message lists the keys they do read).
    """
    from pipelines.dag import select

    read = sorted({k for s in select(dag, [pipeline]) for k in s.params})
    for key in keys:
        if not any(key == r or key.startswith(r + ".") or r.startswith(key + ".") for r in read):
            raise SweepError(f"-S {key}: no stage of pipeline '{pipeline}' (or upstream of it) reads this param, so "
                             f"every experiment would be the same; its stages read: {', '.join(read) or 'no params'}")


def pick_metric(results: list[Result], wanted: str) -> str:
    """The metric named by ``--sort``: a full ``file:key`` name or its key alone (``test_accuracy``).

    Raises:
        SweepError: no experiment reports such a metric.
    """
    names = sorted({k for r in results for k in r.metrics})
    hits = [n for n in names if n == wanted or n.endswith(":" + wanted) or n.endswith("." + wanted)]
    if not hits:
        raise SweepError(f"--sort {wanted}: no such metric (metrics: {', '.join(names) or 'none'})")
    return hits[0]


def default_metric(dag, pipeline: str) -> Headline:
    """The pipeline's declared headline metric (``meta.headline`` in dvc.yaml), which the sweep ranks by.

    Raises:
        SweepError: it declares none (then ``--sort`` names one), or the declaration is malformed.
    """
    try:
        found = headline(dag, pipeline)
    except ValueError as exc:
        raise SweepError(str(exc)) from None
    if found is None:
        raise SweepError(f"pipeline '{pipeline}' declares no headline metric (meta.headline on a stage in dvc.yaml): "
                         "name the metric to rank by with --sort METRIC [--lower-is-better]")
    return found


def rank(results: list[Result], metric: str | None, lower_is_better: bool = False) -> list[Result]:
    """Sort by ``metric`` (failed and metric-less experiments last) and mark the best."""
    ok = [r for r in results if not r.error and metric is not None and isinstance(r.metrics.get(metric), (int, float))]
    rest = [r for r in results if r not in ok]
    ok.sort(key=lambda r: r.metrics[metric], reverse=not lower_is_better)
    for r in results:
        r.best = False
    if ok:
        ok[0].best = True
    return ok + rest


def format_table(results: list[Result], keys: list[str], metric: str | None, seconds: float | None = None,
                 lower_is_better: bool = False) -> str:
    """One line per experiment: the swept params and every metric; ``*`` marks the best."""
    metric_names = sorted({k for r in results for k in r.metrics})
    # `file:key` is long: show the key alone where no two files share it
    bare = [m.split(":", 1)[-1] for m in metric_names]
    shown = [b if bare.count(b) == 1 else m for m, b in zip(metric_names, bare)]
    header = ["", "experiment", *keys, *shown]
    rows = []
    for r in results:
        if r.error:
            rows.append(["!", r.name, *[str(r.params.get(k)) for k in keys], f"FAILED: {r.error}"])
        else:
            rows.append(["*" if r.best else "", r.name, *[str(r.params.get(k)) for k in keys],
                         *[f"{r.metrics[m]:.4f}" if isinstance(r.metrics.get(m), float) else str(r.metrics.get(m, "-"))
                           for m in metric_names]])
    widths = [max(len(row[i]) for row in [header, *rows] if i < len(row)) for i in range(len(header))]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    ok = sum(1 for r in results if not r.error)
    lines.append("")
    lines.append(f"{ok} of {len(results)} experiment(s) succeeded" + (f" in {seconds:.1f} s" if seconds is not None else "")
                 + (f"; sorted by {metric} ({'lower' if lower_is_better else 'higher'} is better), * = best"
                    if metric else ""))
    return "\n".join(lines) + "\n"


# ---- DVC ------------------------------------------------------------------------------------------

def start_workers(root: str | Path, jobs: int) -> None:
    """``dvc queue start --jobs N``, returning as soon as DVC has started the workers.

    The workers are detached processes that inherit DVC's stdout and stderr: with those captured in
    pipes, ``subprocess.run`` would wait for the pipes to close, that is until the queue is empty
    (and no timeout could be enforced). Their output goes to a temporary file instead.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.run([dvc_executable(), "queue", "start", "--jobs", str(jobs)], cwd=root, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            out.seek(0)
            tail = "\n".join(out.read().strip().splitlines()[-TAIL_LINES:])
            raise DvcError(f"dvc queue start --jobs {jobs} exited {proc.returncode}:\n{tail}")


def stop_experiments(root: str | Path, names: list[str], settle: float = 60.0, poll: float = 1.0) -> list[str]:
    """Take the queued experiments of ``names`` off the queue, then interrupt the running ones (as Ctrl-C
    does: DVC stops the stage's command); repeated until none is queued or running, since a worker may
    start a queued one in between. Returns those still queued or running after ``settle`` seconds."""
    deadline = time.monotonic() + settle
    while True:
        status = queue_status(root)
        queued = [n for n in names if status.get(n) == "Queued"]
        running = [n for n in names if status.get(n) == "Running"]
        if not (queued or running) or time.monotonic() > deadline:
            return queued + running
        if queued:
            dvc(["queue", "remove", *queued], root, check=False)
        if running:
            dvc(["queue", "kill", *running], root, check=False)
        time.sleep(poll)


def queue_status(root: str | Path) -> dict[str, str]:
    """``dvc queue status`` as experiment name -> Queued | Running | Success | Failed."""
    out = dvc(["queue", "status"], root).stdout
    status = {}
    for line in out.splitlines():
        parts = line.split()
        # rows: <task id> <name> <created …> <status>; the header and the worker summary are skipped
        if len(parts) >= 3 and parts[-1] in ("Queued", "Running", "Success", "Failed") and re.fullmatch(r"[0-9a-f]{7,}", parts[0]):
            status[parts[1]] = parts[-1]
    return status


def finished_tasks(root: str | Path) -> frozenset[str]:
    """Names of the result files DVC's queue workers have written (one per finished task, success or
    failure: Celery's file result backend in ``.dvc/tmp/exps/celery/result``); empty when there is none."""
    try:
        return frozenset(p.name for p in (Path(root) / ".dvc" / "tmp" / "exps" / "celery" / "result").iterdir())
    except OSError:
        return frozenset()


def wait_for(root: str | Path, names: list[str], timeout: float, poll: float = 0.5, settle: float = 6.0,
             recheck: float = 30.0) -> dict[str, str]:
    """Wait until every experiment in ``names`` has finished; their ``dvc queue status``.

    ``dvc queue status`` is a DVC process that also pings the workers (about 1 s of CPU, taken from
    the experiments it waits for; asked every 2 s it was 60 calls in a 3-experiment sweep), so it is
    asked when a task has just finished (a new file among :func:`finished_tasks`, looked at every
    ``poll`` seconds), then every 2 s for ``settle`` seconds (should DVC record the state after the
    file), and otherwise every ``recheck`` seconds (should DVC keep its results elsewhere).

    Raises:
        SweepError: not all finished within ``timeout`` seconds: the running ones are killed, the queued
            ones removed from the queue, and the message says which had finished.
    """
    deadline = time.monotonic() + timeout
    seen, asked, changed = None, -float("inf"), time.monotonic()
    mine: dict[str, str] = {n: "?" for n in names}
    while True:
        now = time.monotonic()
        done_files = finished_tasks(root)
        new = done_files != seen
        if new:
            seen, changed = done_files, now
        due = recheck if now - changed > settle else 2.0
        if new or now - asked >= due or now > deadline:
            status, asked = queue_status(root), now
            mine = {n: status.get(n, "?") for n in names}
            if all(s in FINAL for s in mine.values()):
                return mine
        if now > deadline:
            left = stop_experiments(root, names)
            done = [n for n, s in mine.items() if s in FINAL]
            raise SweepError(f"--timeout {timeout:g} s reached: {len(done)} of {len(names)} experiment(s) finished "
                             f"({', '.join(done) or 'none'}); the running ones were interrupted and the queued ones "
                             "removed" + (f", but {', '.join(left)} still run(s): `dvc queue kill`" if left else ""))
        time.sleep(poll)


def error_line(log_text: str) -> str:
    """The line that says why an experiment failed: the stage's own error, else DVC's ERROR line."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    ours = [line.split(" ERROR reprolab: ", 1)[1] for line in lines if " ERROR reprolab: " in line]
    if ours:
        return ours[-1]
    errors = [line for line in lines if line.startswith("ERROR") or "Error:" in line]
    return (errors or lines or ["(no log)"])[-1]


def read_results(root: str | Path, names: list[str], combos: list[dict[str, str]], metric_files: list[str]) -> list[Result]:
    """Params and metrics of the named experiments from ``dvc exp show --json``."""
    entries = json.loads(dvc(["exp", "show", "--json"], root).stdout or "[]")
    found: dict[str, dict] = {}
    for entry in entries:
        for exp in entry.get("experiments") or []:
            revs = exp.get("revs") or []
            if exp.get("name") in names and revs:
                found[exp["name"]] = revs[0].get("data") or {}
    results = []
    for name, combo in zip(names, combos):
        data = found.get(name, {})
        metrics = {}
        for path, m in (data.get("metrics") or {}).items():
            if path in metric_files:
                for key, value in flatten(m.get("data") or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        metrics[f"{path}:{key}"] = value
        results.append(Result(name, {k: yaml_value(v) for k, v in combo.items()}, metrics))
    return results


def run_sweep(root: str | Path, pipeline: str, grid: dict[str, list[str]], jobs: int = 1, timeout: float = 3600,
              prefix: str | None = None) -> tuple[list[Result], float]:
    """Queue one experiment per combination of ``grid`` for ``pipeline``'s stages, run the queue with
    ``jobs`` workers, wait, and read the results.

    Returns:
        (results in queue order, wall seconds from the first queued experiment to the last finished).
    """
    dag = read_dag(root)
    groups = pipelines(dag)
    if pipeline not in groups:
        raise SweepError(f"unknown pipeline '{pipeline}' (known: {', '.join(groups)})")
    stages = groups[pipeline]
    metric_files = [m for s in dag if s.name in stages for m in s.metrics]
    combos = combinations(grid)
    check_keys(list(grid), dag, pipeline)
    check_params((Path(root) / "params.yaml").read_text(), combos, pipeline)
    prefix = prefix or f"sweep-{pipeline}-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}"
    names = [f"{prefix}-{i + 1}" for i in range(len(combos))]
    start = time.perf_counter()
    for name, combo in zip(names, combos):
        sets = [a for k, v in combo.items() for a in ("--set-param", f"{k}={v}")]
        dvc(["exp", "run", "--queue", "--name", name, *sets, *stages], root)
        log.info("queued %s: %s", name, combo)
    start_workers(root, jobs)
    status = wait_for(root, names, timeout)
    seconds = time.perf_counter() - start
    results = read_results(root, names, combos, metric_files)
    for r in results:
        if status.get(r.name) != "Success":
            r.error = error_line(dvc(["queue", "logs", r.name], root, check=False).stdout)
    return results, seconds


def apply(root: str | Path, name: str, values: dict[str, object]) -> None:
    """``dvc exp apply``: the experiment's params, dvc.lock and outputs into the workspace.

    Through DVC's API with ``allow_missing``: the CLI's checkout fails on the outputs of pipelines
    this host never reproduced (absent from its cache), after having applied the change. DVC's
    ``--set-param`` rewrote the experiment's params.yaml in its own layout (flow lists as blocks);
    params.yaml is then written back as it was with only the swept ``values`` changed (the same
    values, so dvc.lock stays true), and ``git diff params.yaml`` shows just them.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from pipelines.profiles import set_values

    path = Path(root) / "params.yaml"
    before = path.read_text()
    try:
        with Repo(str(root)) as repo:
            repo.experiments.apply(name, allow_missing=True)
    except DvcException as exc:
        raise SweepError(f"dvc exp apply {name}: {exc}") from None
    path.write_text(set_values(before, values))


# ---- command line ---------------------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="a parameter sweep on DVC's experiment queue, one table of results", description=(
        "Queue one DVC experiment per combination of the -S values (dvc exp run --queue --set-param), run the "
        "queue with -j workers (dvc queue start), wait, and print the swept params and the pipeline's metrics "
        "per experiment, sorted, the best marked. Failed experiments are listed with their error line."))
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline whose stages each experiment reproduces")
    p.add_argument("-S", "--set-param", dest="sets", action="append", default=[], metavar="KEY=V1,V2,…",
                   help="a param and its values (repeat for a grid), e.g. -S tabular.train.C=0.1,1,10")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="queue workers running at once (default 1)")
    p.add_argument("--sort", metavar="METRIC", help="metric to rank by (default: the pipeline's headline metric, "
                   "meta.headline of one of its stages in dvc.yaml, with its direction)")
    p.add_argument("--lower-is-better", action="store_true", help="the smallest value of --sort wins (a loss)")
    p.add_argument("--apply-best", action="store_true", help="dvc exp apply the best experiment (shows in git diff)")
    p.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                   help="stop the sweep after this long: running experiments killed, queued ones removed (default 3600)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print(f"error: -j must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    if not args.timeout > 0:
        print(f"error: --timeout must be a positive number of seconds, got {args.timeout:g}", file=sys.stderr)
        return 2
    try:
        grid = parse_sets(args.sets)
        dag = read_dag(".")
        groups = pipelines(dag)
        if args.pipeline not in groups:
            raise SweepError(f"unknown pipeline '{args.pipeline}' (known: {', '.join(groups)})")
        if args.sort:
            declared, lower = None, args.lower_is_better
            print(f"ranking by --sort {args.sort} ({'lower' if lower else 'higher'} is better)", file=sys.stderr)
        else:
            if args.lower_is_better:
                raise SweepError("--lower-is-better goes with --sort (the headline metric declares its direction)")
            declared = default_metric(dag, args.pipeline)
            lower = not declared.higher_is_better
            print(f"ranking by {declared.name} ({'lower' if lower else 'higher'} is better; the headline metric "
                  f"{declared.stage} declares in dvc.yaml, --sort to choose another)", file=sys.stderr)
        results, seconds = run_sweep(".", args.pipeline, grid, jobs=args.jobs, timeout=args.timeout)
        metric = pick_metric(results, args.sort) if args.sort else declared.name
        ranked = rank(results, metric, lower)
        best = next((r for r in ranked if r.best), None)
        if best is None and any(not r.error for r in results):
            print(f"warning: no experiment reports {metric}: none marked best", file=sys.stderr)
        if args.json:
            print(json.dumps({"metric": metric, "lower_is_better": lower, "seconds": seconds,
                              "results": [r.__dict__ for r in ranked]}, indent=2))
        else:
            print(format_table(ranked, list(grid), metric, seconds, lower), end="")
        if args.apply_best:
            if best is None:
                print("error: no experiment succeeded: nothing to apply", file=sys.stderr)
                return 1
            apply(".", best.name, best.params)
            print(f"applied {best.name} ({', '.join(f'{k}={v}' for k, v in best.params.items())}): see git diff params.yaml")
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DvcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1 if any(r.error for r in results) else 0
