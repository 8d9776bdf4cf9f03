"""Process-level set-up for a stage: its declaration, logging, seeding, device choice, the error boundary,
and its run record (:class:`StageRun`; reading and showing records: :mod:`stages.core.runs`)."""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from .errors import StageError
from .stage import Declared, declared

log = logging.getLogger("reprolab")


# ---- run records (written here for every stage run; read and shown by stages.core.runs) ----------

RUNS_ENV = "REPROLAB_RUNS"
RUN_ID_ENV = "REPROLAB_RUN_ID"  # one id per stage run, inherited by the processes it starts (torchrun)
HISTORY = "history.jsonl"
EXPS_TMP = (".dvc", "tmp", "exps")  # where DVC's queue runs an experiment: a temporary copy of the repo


def record_root(cwd: str | Path = ".") -> Path:
    """The repository whose ``.reprolab/runs`` gets the record: ``cwd``, or, for a stage that a queued
    DVC experiment runs in ``<repo>/.dvc/tmp/exps/<tmp>/``, ``<repo>`` (the copy is deleted afterwards)."""
    path = Path(cwd).resolve()
    parts = path.parts
    for i in range(len(parts) - len(EXPS_TMP)):
        if parts[i:i + len(EXPS_TMP)] == EXPS_TMP:
            return Path(*parts[:i])
    return Path(cwd)


def runs_dir(root: str | Path = ".") -> Path:
    """``<root>/.reprolab/runs`` (stages run from the repository root), or ``$REPROLAB_RUNS``."""
    return Path(os.environ.get(RUNS_ENV) or record_root(root) / ".reprolab" / "runs")


def record_path(stage: str, root: str | Path = ".") -> Path:
    return runs_dir(root) / f"{stage}.json"


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes: the hash DVC records for a file output in dvc.lock."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def _output_hashes(outputs: Iterable[str | Path]) -> dict[str, str]:
    return {str(PurePath(o).as_posix()): file_md5(o) for o in outputs if Path(o).is_file()}


def read_run_record(stage: str, root: str | Path = ".") -> dict[str, Any] | None:
    """``stage``'s last run record, or None when it has none (never ran here) or it is unreadable."""
    path = record_path(stage, root)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ---- measuring one stage run ---------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(cwd: str | Path = ".") -> str | None:
    """HEAD of the checkout the stage runs in (in a queued experiment: the commit it was queued on)."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def device_used() -> str:
    """``cuda (<GPU name>)`` when this process initialised CUDA, else ``cpu`` (torch is not imported for it)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return f"cuda ({torch.cuda.get_device_name()})"
    except Exception:  # noqa: BLE001 - a broken CUDA set-up must not fail the record of a finished stage
        pass
    return "cpu"


def _process_age() -> float:
    """Seconds since this process started (0 where that cannot be read)."""
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - psutil absent or /proc unreadable: count from now
        return 0.0


class StageRun:
    """Measures one stage run: wall time and CPU time since the process started (imports included; CPU
    time of the children it waited for too: Dask workers, torchrun), peak resident memory;
    :meth:`finish` writes the record.

    Rusage peaks are per process: ``peak_memory_mb`` is this process's, ``peak_children_memory_mb``
    the largest of its finished children (a Dask worker, a torchrun rank).
    """

    def __init__(self, stage: str, root: str | Path = "."):
        self.stage, self.root = stage, root
        self.id = uuid.uuid4().hex[:12]
        os.environ[RUN_ID_ENV] = self.id
        self.started = _now()
        # from the process's start: a stage's imports (torch, librosa) are part of what it costs
        self._wall = time.perf_counter() - _process_age()

    @staticmethod
    def _cpu_seconds() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def measure(self) -> dict[str, Any]:
        """The figures so far."""
        mb = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
        return {
            "wall_seconds": time.perf_counter() - self._wall,
            "cpu_seconds": self._cpu_seconds(),
            "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mb,
            "peak_children_memory_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mb,
        }

    def finish(self, status: str = "ok", error: str | None = None, outputs: Iterable[str | Path] = ()) -> dict[str, Any]:
        """Complete the record and write it: appended to ``history.jsonl`` always, and as
        ``<stage>.json`` when the run succeeded (a failed run does not replace the last good record).

        Figures the stage wrote itself with :func:`write_run_record` during this run (from this
        process or a torchrun rank it started) are kept.

        Returns:
            the record.
        """
        own = read_run_record(self.stage, self.root) or {}
        extra = {k: v for k, v in own.items() if own.get("run_id") == self.id}
        record = {
            **extra,
            "stage": self.stage, "run_id": self.id, "status": status, "started_utc": self.started, "finished_utc": _now(),
            **self.measure(),
            "device": extra.get("device") or device_used(), "host": platform.node(), "commit": git_commit(),
            "outputs": {**(extra.get("outputs") or {}), **_output_hashes(outputs)},
        }
        if os.environ.get("DVC_EXP_NAME"):  # set by DVC in a queued or `dvc exp run` experiment
            record["experiment"] = os.environ["DVC_EXP_NAME"]
        if error:
            record["error"] = error
        try:
            if status == "ok":
                _write_atomic(record_path(self.stage, self.root), record)
            history = runs_dir(self.root) / HISTORY
            history.parent.mkdir(parents=True, exist_ok=True)
            # one write() of one line with O_APPEND: concurrent stages (queued experiments) do not interleave
            fd = os.open(history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (json.dumps(record, sort_keys=True, default=str) + "\n").encode())
            finally:
                os.close(fd)
        except OSError as exc:  # a read-only or full disk must not fail a stage whose outputs are written
            log.warning("run record not written: %s", exc)
        return record



# ---- the stage process ---------------------------------------------------------------------------


def setup_logging(level: str | None = None) -> None:
    """Log to stderr as ``HH:MM:SS LEVEL logger: message``; level from ``REPROLAB_LOG_LEVEL``."""
    logging.basicConfig(
        level=(level or os.environ.get("REPROLAB_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when imported) PyTorch; return a NumPy generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise StageError("common.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return device


# Exit status of a stage stopped by a StageError (bad params or data): distinct from a bug's 1, so the
# Prefect flow does not retry what only a user can fix (pipelines/flows.py reads it from DVC's output).
BAD_INPUT_EXIT = 2


def _module_name(main: Callable) -> str:
    """The dotted name of the module defining ``main``, also when it runs as ``python -m`` (``__main__``)."""
    spec = main.__globals__.get("__spec__")
    return spec.name if spec is not None else main.__module__


CHECK_READS_ENV = "REPROLAB_CHECK_READS"  # "1": a stage fails if it read a file dvc.yaml does not declare
# read by every stage and known to DVC by other means: its own declaration, and the params it lists
ALWAYS_READABLE = ("dvc.yaml", "params.yaml")
NOT_PROJECT_FILES = (".venv", ".git", ".dvc", ".reprolab")  # tools' and run records' files, not a stage's inputs


class ReadAudit:
    """The project files a stage process opens for reading, seen by a Python audit hook (``open``).

    DVC reruns a stage when a declared dep changes and never sees a file a stage reads without
    declaring it: such a stage silently goes stale. With ``REPROLAB_CHECK_READS=1`` (the test suite
    sets it for every stage it runs) :func:`run_stage` fails a stage that read a file under the
    working directory that is none of its deps (data or code), outputs, ``dvc.yaml`` or
    ``params.yaml``. Files outside the project (site-packages), in the download cache and in the resume
    checkpoints are not inputs DVC could track. Only this process is seen (each torchrun rank checks
    its own), not the other processes it starts.
    """

    def __init__(self, root: str | Path = ".") -> None:
        self.root = os.path.abspath(root)
        # the download cache and the resume checkpoints may lie inside the project (the course check's
        # copies, tests): a download is an input by its URL and checksum, which the stage declares as
        # params, and a resume checkpoint is the stage's own unfinished run
        self.elsewhere = tuple(os.path.abspath(os.environ[name]) + os.sep for name in ("REPROLAB_CACHE", "REPROLAB_CHECKPOINTS")
                               if os.environ.get(name))
        self.read: set[str] = set()
        self.active = True
        sys.addaudithook(self._hook)  # an audit hook cannot be removed: ``active`` turns it off

    def _hook(self, event: str, args: tuple) -> None:
        if event != "open" or not self.active:
            return
        try:
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)):
                return  # a file descriptor
            name = os.fsdecode(path)
            if isinstance(mode, str):  # open(), io.open(), the import system
                reading = not any(c in mode for c in "wax+")
            else:  # os.open(): a relative name may be relative to a directory descriptor (dir_fd: shutil's
                # rmtree, os.fwalk), which the event does not carry, and a directory is no input
                flags = flags or 0
                reading = os.path.isabs(name) and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_DIRECTORY)
            if reading:
                full = os.path.abspath(name)
                if full.startswith(self.elsewhere):
                    return
                rel = os.path.relpath(full, self.root)
                if not rel.startswith(".." + os.sep) and rel != "..":
                    self.read.add(Path(rel).as_posix())
        except Exception:  # noqa: BLE001 - an audit hook's exception would fail the open itself
            pass

    def named(self, stage: Declared) -> list[str]:
        """Project paths that the stage's declared params name (a ``path`` source's files and folders):
        declared by value, re-read on request (``dvc repro --force --single-item <source stage>``, or
        retraining's refresh), not by DVC's hash."""
        from .params import read_params_file  # params imports this module: not at the top

        try:
            data = read_params_file()
        except StageError:  # no or malformed params.yaml: the stage itself has said so
            return []
        values: list[str] = []

        def collect(node: Any) -> None:
            if isinstance(node, str):
                values.append(node)
            elif isinstance(node, dict):
                for v in node.values():
                    collect(v)
            elif isinstance(node, list):
                for v in node:
                    collect(v)

        for key in stage.params:
            node = data
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            collect(node)
        out = []
        for value in values:
            rel = os.path.relpath(os.path.abspath(value), self.root)
            if value and not rel.startswith(".."):
                out.append(rel)
        return out

    def undeclared(self, stage: Declared) -> list[str]:
        """The files read that ``stage`` does not declare (sorted)."""
        declared = [PurePath(p) for p in (*stage.deps, *stage.code, *stage.outs, *ALWAYS_READABLE, *self.named(stage))]
        temporaries = [(PurePath(o).parent, f".{PurePath(o).name}.tmp") for o in stage.outs]  # io.temporary_name

        def temporary(path: PurePath) -> bool:  # an output's temporary, or a file in a temporary folder
            return any((parent == path.parent and path.name.startswith(prefix))
                       or (parent in path.parents and path.parts[len(parent.parts)].startswith(prefix))
                       for parent, prefix in temporaries)

        def allowed(rel: str) -> bool:
            path = PurePath(rel)
            if path.parts[0] in NOT_PROJECT_FILES or "__pycache__" in path.parts or os.path.isdir(rel):
                return True
            if path.name == "__init__.py":  # a package marker: listed where it holds code (pipelines deps)
                return True
            return any(path == d or d in path.parents for d in declared) or temporary(path)

        return sorted(r for r in self.read if not allowed(r))


def run_stage(main: Callable[[Declared], None], argv: list[str] | None = None) -> None:
    """Run a stage's ``main`` with its dvc.yaml declaration, logging set up.

    The stage takes no command-line arguments: every path it reads or writes is declared once, in its
    dvc.yaml entry (the one whose ``cmd`` runs its module). ``--help`` prints the module docstring and
    that declaration. A :class:`StageError` logs its message only and exits with
    :data:`BAD_INPUT_EXIT` (as does an unexpected argument); anything else is a bug and keeps its
    traceback (exit 1).

    Args:
        main: the stage's ``main(stage)``.
        argv: command-line arguments (default ``sys.argv[1:]``); only ``-h``/``--help`` is accepted.
    """
    module = _module_name(main)
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=main.__globals__.get("__doc__"),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    setup_logging()
    stage: Declared | None = None
    try:
        stage = declared(module)
        ap.epilog = f"{stage.describe()}\n\nPaths live in dvc.yaml only; run the stage with `dvc repro {stage.name}`."
    except StageError as exc:
        error, ap.epilog = exc, f"not runnable here: {exc}"
    ap.parse_args(argv)  # --help prints and exits; any argument is an error
    # every run of a declared stage leaves a run record (wall/CPU time, memory, device, host, commit);
    # a torchrun rank does not: the process that launched torchrun records the whole run
    run = StageRun(stage.name) if stage is not None and "TORCHELASTIC_RUN_ID" not in os.environ else None
    reads = ReadAudit() if stage is not None and os.environ.get(CHECK_READS_ENV) == "1" else None
    status, message = "failed", None
    try:
        if stage is None:
            raise error
        main(stage)
        if reads is not None:
            reads.active = False
            if undeclared := reads.undeclared(stage):
                raise StageError(f"{stage.file}: stage '{stage.name}' read {', '.join(undeclared)}, which it does not "
                                 "declare: add each to its deps (DVC cannot rerun the stage when it changes)")
        status = "ok"
    except StageError as exc:
        log.error("%s", exc)
        status, message = "bad-input", str(exc).splitlines()[0][:500]
        sys.exit(BAD_INPUT_EXIT)
    except SystemExit as exc:  # a stage that re-ran itself under torchrun exits with torchrun's status
        status = "ok" if exc.code in (0, None) else "failed"
        message = None if status == "ok" else f"exit status {exc.code}"
        raise
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        raise
    finally:
        if run is not None:
            files = [o for o in stage.outs if os.path.isfile(o)] if status == "ok" else []
            record = run.finish(status, message, outputs=files)
            log.info("run record: %.2f s wall, %.2f s CPU, peak %.0f MB (%s)", record["wall_seconds"], record["cpu_seconds"],
                     max(record["peak_memory_mb"], record["peak_children_memory_mb"]), status)
