"""Run records: what one run of a stage measured that is not a property of its outputs.

Wall-clock figures (training seconds, images per second, seconds per scored image), the host, the
number of processes, the epoch a run resumed from: they differ from run to run, so inside a
DVC-tracked output they would change its hash on every run (and rerun everything downstream, and
rewrite ``dvc.lock`` on a fresh clone). They go to ``.reprolab/runs/<stage>.json`` instead:
git-ignored, not a stage output, overwritten by the stage's next run. The Prefect flow prints it after
a stage ran and ``python -m pipelines audit`` shows it beside the artifact's lineage.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RUNS_ENV = "REPROLAB_RUNS"


def runs_dir(root: str | Path = ".") -> Path:
    """``<root>/.reprolab/runs`` (stages run from the repository root), or ``$REPROLAB_RUNS``."""
    return Path(os.environ.get(RUNS_ENV) or Path(root) / ".reprolab" / "runs")


def record_path(stage: str, root: str | Path = ".") -> Path:
    return runs_dir(root) / f"{stage}.json"


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes: the hash DVC records for a file output in dvc.lock."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_run_record(stage: str, record: dict[str, Any], root: str | Path = ".", outputs: list[str | Path] = ()) -> Path:
    """Write ``stage``'s run record (atomically), with the time it finished and the host.

    Args:
        outputs: output files this run wrote; their md5 goes into the record (``outputs``), so that
            ``audit`` can tell whether the record belongs to the artifact in dvc.lock.

    Returns:
        the record's path.
    """
    path = record_path(stage, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"stage": stage, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), **record,
            "outputs": {str(Path(o).as_posix()): file_md5(o) for o in outputs if Path(o).is_file()}}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_run_record(stage: str, root: str | Path = ".") -> dict[str, Any] | None:
    """``stage``'s last run record, or None when it has none (never ran here) or it is unreadable."""
    path = record_path(stage, root)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def format_run_record(record: dict[str, Any]) -> str:
    """One line: ``stage (finished …, host): key value, …`` (numbers to 4 significant digits)."""
    skip = {"stage", "finished_utc", "host"}
    items = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in sorted(record.items()) if k not in skip and not isinstance(v, (dict, list)))
    return f"{record.get('stage')} (run {record.get('finished_utc')} on {record.get('host')}): {items}"
