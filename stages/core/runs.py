"""Run records: what one run of a stage measured that is not a property of its outputs.

Wall-clock figures (seconds, CPU seconds, peak memory, images per second), the host, the device, the
git commit: they differ from run to run, so inside a DVC-tracked output they would change its hash on
every run (and rerun everything downstream, and rewrite ``dvc.lock`` on a fresh clone). DVC itself
records none of them (treeverse/dvc#1420). They go to ``.reprolab/runs/`` instead, git-ignored:

- ``<stage>.json``: the stage's last successful run on this host (replaced by its next one);
- ``history.jsonl``: one line per run of any stage, failed runs included (appended).

:func:`stages.core.runtime.run_stage` writes both for every stage, whoever started it (``dvc repro``,
the Prefect flow, a queued DVC experiment, which runs in a temporary copy under ``.dvc/tmp/exps/`` and
records into the repository it was queued from). A stage adds its own figures (a trainer's images per
second) with :func:`write_run_record`; they are merged into the same record. The Prefect flow publishes
the records of the stages it ran as an artifact, ``python -m pipelines audit`` shows the run that
produced an artifact, ``python -m pipelines runs`` lists recent runs and the slowest stages.
"""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# the writing side lives in runtime.py, which every stage imports already (run_stage records each run)
from .runtime import (HISTORY, RUN_ID_ENV, RUNS_ENV, StageRun, _now, _output_hashes, _write_atomic,  # noqa: F401
                      device_used, file_md5, git_commit, read_run_record, record_path, record_root, runs_dir)

def write_run_record(stage: str, record: dict[str, Any], root: str | Path = ".", outputs: Iterable[str | Path] = ()) -> Path:
    """Write ``stage``'s run record (atomically), with the time it finished and the host.

    Inside a run of :func:`stages.core.runtime.run_stage` these figures are also kept for the record
    that ``run_stage`` completes when the stage ends (wall time, CPU time, memory …), so a stage's own
    figures and the common ones end up in one record.

    Args:
        outputs: output files this run wrote; their md5 goes into the record (``outputs``), so that
            ``audit`` can tell whether the record belongs to the artifact in dvc.lock.

    Returns:
        the record's path.
    """
    path = record_path(stage, root)
    full = {"stage": stage, "finished_utc": _now(), "host": platform.node(), **record,
            "outputs": _output_hashes(outputs)}
    if os.environ.get(RUN_ID_ENV):
        full["run_id"] = os.environ[RUN_ID_ENV]
    _write_atomic(path, full)
    return path


def read_history(root: str | Path = ".", stages: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every recorded run (oldest first), of ``stages`` only when given; unreadable lines are skipped."""
    wanted = set(stages) if stages is not None else None
    try:
        text = (runs_dir(root) / HISTORY).read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a full disk or a kill: the others stay readable
        if isinstance(record, dict) and (wanted is None or record.get("stage") in wanted):
            out.append(record)
    return out


def producing_run(stage: str, path: str, md5: str | None, root: str | Path = ".") -> dict[str, Any] | None:
    """The latest successful run of ``stage`` that wrote ``path`` with hash ``md5``; else its last
    successful run (whose ``outputs`` then tell the reader it made another version, or nothing)."""
    runs = [r for r in read_history(root, [stage]) if r.get("status", "ok") == "ok"]
    for record in reversed(runs):
        if md5 is not None and (record.get("outputs") or {}).get(path) == md5:
            return record
    return runs[-1] if runs else read_run_record(stage, root)


def format_run_record(record: dict[str, Any]) -> str:
    """One line: ``stage (finished …, host): key value, …`` (numbers to 4 significant digits)."""
    skip = {"stage", "finished_utc", "host", "run_id", "started_utc"}
    items = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in sorted(record.items()) if k not in skip and not isinstance(v, (dict, list)))
    return f"{record.get('stage')} (run {record.get('finished_utc')} on {record.get('host')}): {items}"


# ---- showing them --------------------------------------------------------------------------------

def runs_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The common figures of each record, one flat row each (a Prefect table artifact, ``runs``)."""
    rows = []
    for r in records:
        peak = max(float(r.get("peak_memory_mb") or 0), float(r.get("peak_children_memory_mb") or 0))
        rows.append({
            "stage": r.get("stage"), "status": r.get("status", "ok"), "finished_utc": r.get("finished_utc"),
            "wall_s": round(float(r.get("wall_seconds") or 0), 2), "cpu_s": round(float(r.get("cpu_seconds") or 0), 2),
            "peak_mb": round(peak), "device": r.get("device"), "host": r.get("host"),
            "commit": (r.get("commit") or "")[:10], "experiment": r.get("experiment") or "",
        })
    return rows


def slowest_stages(records: list[dict[str, Any]], top: int = 5) -> list[dict[str, Any]]:
    """Per stage over its successful runs: runs, mean and last wall time, largest peak memory; slowest first."""
    by_stage: dict[str, list[dict]] = {}
    for r in records:
        if r.get("status", "ok") == "ok" and "wall_seconds" in r:
            by_stage.setdefault(r["stage"], []).append(r)
    rows = [{"stage": stage, "runs": len(rs), "mean_wall_s": sum(r["wall_seconds"] for r in rs) / len(rs),
             "last_wall_s": rs[-1]["wall_seconds"],
             "peak_mb": max(max(r.get("peak_memory_mb", 0), r.get("peak_children_memory_mb", 0)) for r in rs)}
            for stage, rs in by_stage.items()]
    return sorted(rows, key=lambda row: -row["mean_wall_s"])[:top]


def format_runs(records: list[dict[str, Any]], last: int = 20, top: int = 5) -> str:
    """``python -m pipelines runs``: the last ``last`` runs, then the ``top`` slowest stages."""
    if not records:
        return "no stage runs recorded here yet (.reprolab/runs/history.jsonl): run `dvc repro`\n"
    rows = runs_table(records[-last:])
    cols = ["finished_utc", "stage", "status", "wall_s", "cpu_s", "peak_mb", "device", "host", "commit", "experiment"]
    body = [[str(row[c]) for c in cols] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(cols, *body)]
    lines = [f"last {len(rows)} of {len(records)} recorded run(s), oldest first"]
    lines += ["  " + "  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [cols, *body]]
    failed = [r for r in records[-last:] if r.get("status", "ok") != "ok" and r.get("error")]
    for r in failed:
        lines.append(f"  {r['stage']} {r['status']} at {r.get('finished_utc')}: {r['error']}")
    slow = slowest_stages(records, top)
    lines += ["", f"slowest stages (mean wall time over their successful runs)"]
    lines += [f"  {s['stage']:<28} {s['mean_wall_s']:8.2f} s mean  {s['last_wall_s']:8.2f} s last  "
              f"{s['runs']:3d} run(s)  peak {s['peak_mb']:.0f} MB" for s in slow]
    return "\n".join(lines) + "\n"
