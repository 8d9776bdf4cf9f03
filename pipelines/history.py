"""One pipeline's params and metrics per commit and experiment: a readable ``dvc exp show``.

``dvc exp show --all-commits`` has a column for every param and metric of every pipeline, hundreds of
them, each cell cut to "…". This view keeps the rows (the workspace, each commit, the DVC experiments
made on it) and only the named pipeline's columns: its params section (by default only the params that
differ between rows) and the metrics files its own stages declare.

    python -m pipelines history tabular           # every commit (dvc exp show --all-commits)
    python -m pipelines history gan -n 5          # the last 5 commits of HEAD
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.dag import flatten


class HistoryError(RuntimeError):
    """``dvc exp show`` failed; the message carries DVC's last lines."""


@dataclass(frozen=True)
class Row:
    rev: str                 # "workspace" or a commit / experiment SHA
    name: str                # branch or tag of a commit, experiment name, "" when none
    kind: str                # "workspace" | "commit" | "experiment"
    timestamp: str           # ISO time of the commit, "" for the workspace
    params: dict = field(default_factory=dict)    # flattened params.yaml
    metrics: dict = field(default_factory=dict)   # metrics file -> flattened metrics
    error: str = ""


def _row(entry: dict, kind: str, name: str | None = None) -> Row:
    data = entry.get("data") or {}
    params = flatten((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
    metrics = {path: flatten(m.get("data") or {}) for path, m in (data.get("metrics") or {}).items()}
    error = (entry.get("error") or {}).get("msg", "")
    return Row(rev=entry.get("rev") or "", name=name if name is not None else (entry.get("name") or ""), kind=kind,
               timestamp=data.get("timestamp") or "", params=params, metrics=metrics, error=error)


def rows_from_exp_show(entries: list[dict]) -> list[Row]:
    """``dvc exp show --json`` → rows in its order: the workspace, then each commit followed by its
    experiments (an experiment's newest revision)."""
    rows = []
    for entry in entries:
        rows.append(_row(entry, "workspace" if entry.get("rev") == "workspace" else "commit"))
        for exp in entry.get("experiments") or []:
            revs = exp.get("revs") or []
            if revs:
                rows.append(_row(revs[0], "experiment", exp.get("name") or revs[0].get("name") or ""))
    return rows


def columns(rows: list[Row], pipeline: str, metric_files: list[str], all_params: bool = False
            ) -> tuple[list[str], list[tuple[str, str]], int]:
    """The params (``<pipeline>.…`` keys) and metrics (file, key) columns to show.

    Returns:
        (param keys, metric (file, key) pairs, how many constant params were left out).
    """
    prefix = pipeline + "."
    keys = sorted({k for r in rows for k in r.params if k.startswith(prefix)})
    varying = [k for k in keys if len({json.dumps(r.params.get(k), sort_keys=True) for r in rows if not r.error}) > 1]
    shown = keys if all_params else varying
    metric_cols = sorted({(f, k) for r in rows for f in metric_files for k, v in r.metrics.get(f, {}).items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return shown, metric_cols, len(keys) - len(shown)


def _cell(value, metric: bool = False) -> str:
    """A param as written (``2.0``, ``[1, 2]``); a metric to 4 significant digits; ``-`` when absent."""
    if value is None:
        return "-"
    if metric and isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict, bool)) else str(value)


def format_table(rows: list[Row], pipeline: str, metric_files: list[str], all_params: bool = False) -> str:
    """A plain-text table: one line per row, the pipeline's params and metrics as columns."""
    params, metrics, hidden = columns(rows, pipeline, metric_files, all_params)
    # a metric key alone names its column unless two files share it; then the file's folder says which
    bare = [k for _, k in metrics]
    metric_names = [k if bare.count(k) == 1 else f"{Path(f).parent.name}/{k}" for f, k in metrics]
    header = ["rev", "name", "date", *[p.removeprefix(pipeline + ".") for p in params], *metric_names]
    lines = []
    for r in rows:
        rev = r.rev if r.kind == "workspace" else r.rev[:7]
        name = ("  " + r.name) if r.kind == "experiment" else r.name
        date = r.timestamp.replace("T", " ")[:16]
        if r.error:
            lines.append([rev, name, date, f"(dvc: {r.error})"])
            continue
        lines.append([rev, name, date, *[_cell(r.params.get(p)) for p in params],
                      *[_cell(r.metrics.get(f, {}).get(k), metric=True) for f, k in metrics]])
    widths = [max(len(str(x[i])) for x in [header, *lines] if i < len(x)) for i in range(len(header))]
    text = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    notes = []
    if hidden:
        notes.append(f"{hidden} param(s) of {pipeline} are the same in every row (--all shows them)")
    if not metrics:
        notes.append(f"no metrics of {pipeline} recorded in these rows")
    return "\n".join(text + ([""] + notes if notes else [])) + "\n"


def exp_show(root: str | Path, all_commits: bool = True, last: int | None = None) -> list[dict]:
    """``dvc exp show --json`` (``--all-commits``, or ``-n last`` commits of HEAD).

    Raises:
        HistoryError: DVC exited non-zero or printed no JSON.
    """
    from pipelines.dvc_command import dvc

    args = ["-n", str(last)] if last else (["--all-commits"] if all_commits else [])
    proc = dvc(["exp", "show", "--json", *args], root, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-10:])
        raise HistoryError(f"dvc exp show exited {proc.returncode}:\n{tail}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise HistoryError(f"dvc exp show printed no JSON: {proc.stdout[:200]!r}") from exc
