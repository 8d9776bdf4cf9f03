"""``python -m pipelines course-check``: every course profile, run end to end on a machine without network.

For each pipeline that ``profiles/course.yaml`` has a section for, in a throw-away copy of the project:

1. apply the course profile to the pipeline and to every pipeline upstream of it (anomaly reads gan's
   digits and DCGAN, so gan's course settings come too);
2. replace only what cannot be had offline, as the pipeline's ``stages/<pipeline>/course_check.py``
   declares: each dataset URL by a tiny file in the real format and each set of pretrained weights by
   a random-init state dict of the exact torchvision architecture (``standins(kit)``), all served from
   127.0.0.1 with their checksums; and epochs, steps, samples and images by the least that runs every
   stage once (``CAPS``). Architectures, input sizes, preprocessing, optimisers and param groups keep
   the course's values;
3. ``dvc repro`` the pipeline's stages, with downloads cached inside the copy.

It prints, per pipeline, the stages run, seconds, the largest peak memory of a stage, and pass or
fail with the failing stage's last error line. What a pass proves: the course path runs and loads
(data formats, checksums, key matching of pretrained weights, shapes at the book's sizes, memory on
this host). What it cannot: the book's accuracy, which needs the real data and weights.

A pipeline joins the check by having a section in ``profiles/course.yaml``; its module
``stages/<pipeline>/course_check.py`` is needed only when it downloads something or trains.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines.dag import pipeline_of, pipelines, read_dag, select
from pipelines.dvc_command import dvc_executable
from pipelines.profiles import PARAMS, load_profile, set_values
from pipelines.workspace import copy_project, empty_lock


@dataclass
class CheckResult:
    """One pipeline's course check."""

    pipeline: str
    ok: bool
    stages: list[str] = field(default_factory=list)   # stages dvc repro ran
    expected: list[str] = field(default_factory=list)  # every stage of the pipeline and upstream
    seconds: float = 0.0
    peak_mb: float = 0.0
    error: str = ""


def course_pipelines(root: str | Path = ".") -> list[str]:
    """Pipelines with a course profile, in dvc.yaml's order."""
    sections = set(load_profile("course", root))
    with contextlib.chdir(root):  # DVC names stages relative to the working directory
        return [p for p in pipelines(read_dag(".")) if p in sections]


def check_module(pipeline: str):
    """``stages.<pipeline>.course_check`` or None when the pipeline needs neither stand-ins nor caps."""
    try:
        return importlib.import_module(f"stages.{pipeline}.course_check")
    except ModuleNotFoundError as exc:
        if exc.name in (f"stages.{pipeline}.course_check", f"stages.{pipeline}"):
            return None
        raise


def overrides(involved: list[str], kit) -> dict[str, Any]:
    """{dotted key: value}: every involved pipeline's caps and stand-ins (files written into ``kit``)."""
    values: dict[str, Any] = {}
    for name in involved:
        module = check_module(name)
        if module is None:
            continue
        values.update(getattr(module, "CAPS", {}))
        if hasattr(module, "standins"):
            values.update(module.standins(kit))
    return values


def prepare(root: Path, work: Path, pipeline: str, base_url: str, kit_dir: Path) -> tuple[list[str], list[str]]:
    """Copy the project into ``work`` and write the course profile plus stand-ins into its params.yaml.

    Returns:
        (the pipelines whose course settings were applied, every stage the check must run).
    """
    from pipelines.profiles import apply
    from stages.core.params import parse_params, validate_all
    from stages.core.standins import Kit

    with contextlib.chdir(root):  # DVC names stages relative to the working directory
        dag = read_dag(".")
    wanted = [s.name for s in select(dag, [pipeline])]
    copy_project(root, work, stages=set(wanted))  # DVC indexes every stage of dvc.yaml for each command
    empty_lock(work)  # committed below: the copy starts with no outputs, and DVC rewrites the lock after each stage
    # the copy's outputs enter its DVC cache as hard links, not copies: a VGG16 checkpoint is 0.5-1 GB,
    # and the cache of a throw-away copy is never pushed or shared (DVC makes both names read-only)
    (work / ".dvc" / "config.local").write_text("[cache]\n    type = hardlink,copy\n")
    course = set(load_profile("course", work))
    involved = [p for p in pipelines(dag) if p in course and any(pipeline_of(s) == p for s in wanted)]
    apply("course", involved, root=work)
    params = work / PARAMS
    text = set_values(params.read_text(), overrides(involved, Kit(kit_dir, base_url)))
    validate_all(parse_params(text, PARAMS), PARAMS)
    params.write_text(text)
    subprocess.run(["git", "-c", "user.email=check@example.invalid", "-c", "user.name=check", "commit", "-qam",
                    f"course profile of {', '.join(involved)}, offline stand-ins"], cwd=work, check=True, capture_output=True)
    return involved, wanted


def last_error(log: str) -> str:
    """The line of a failed ``dvc repro`` that says what went wrong: the stage's own error line (its
    log's ``ERROR`` record or an ``error:`` line) before DVC's "failed to reproduce"."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for pattern in (r"^(\S+ )?ERROR (?!.*failed to reproduce)", r"^error:", r"^ERROR:"):
        hits = [ln for ln in lines if re.search(pattern, ln)]
        if hits:
            return re.sub(r"^(\S+ )?ERROR [\w.]+: ", "", hits[0])
    return lines[-1] if lines else "no output"


def check_pipeline(root: Path, pipeline: str, workdir: Path, timeout: float) -> CheckResult:
    """Run ``pipeline``'s course check in ``workdir/<pipeline>`` (left there: the caller removes it)."""
    from stages.core.runs import read_history, runs_table
    from stages.core.standins import serve_directory

    work, kit_dir = workdir / pipeline, workdir / f"{pipeline}-standins"
    start = time.monotonic()
    kit_dir.mkdir(parents=True, exist_ok=True)
    with serve_directory(kit_dir) as base_url:
        try:
            _, wanted = prepare(root, work, pipeline, base_url, kit_dir)
        except Exception as exc:  # noqa: BLE001 - any failure to set up is this pipeline's failed check
            return CheckResult(pipeline, False, seconds=time.monotonic() - start, error=f"setting up: {exc}")
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   REPROLAB_CACHE=str(work / ".download-cache"), DVC_NO_ANALYTICS="1",
                   MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
                   REPROLAB_CHECK_READS="1")  # a stage that reads a file it does not declare fails (docs/code-deps.md)
        try:
            proc = subprocess.run([dvc_executable(), "repro", *[s for s in wanted if pipeline_of(s) == pipeline]], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=timeout)
            log, ok = proc.stdout + proc.stderr, proc.returncode == 0
        except subprocess.TimeoutExpired as exc:
            log, ok = f"{exc.stdout or ''}{exc.stderr or ''}\nerror: timed out after {timeout:.0f} s", False
    (work / "course-check.log").write_text(log)
    ran = [ln.split("'")[1] for ln in log.splitlines() if ln.startswith("Running stage '")]
    peak = max((r["peak_mb"] for r in runs_table(read_history(work))), default=0)
    missing = [s for s in wanted if s not in ran]
    if ok and missing:
        ok, error = False, f"stage(s) not run: {', '.join(missing)}"
    else:
        error = "" if ok else last_error(log)
    return CheckResult(pipeline, ok, ran, wanted, round(time.monotonic() - start, 1), round(peak), error)


def format_results(results: list[CheckResult]) -> str:
    width = max([len("pipeline"), *(len(r.pipeline) for r in results)])
    lines = [f"{'pipeline'.ljust(width)}  result  stages  seconds  peak MB  ", ]
    for r in results:
        lines.append(f"{r.pipeline.ljust(width)}  {'pass' if r.ok else 'FAIL':6}  {len(r.stages):>2}/{len(r.expected):<3}  "
                     f"{r.seconds:7.1f}  {r.peak_mb:7.0f}  {r.error}")
    return "\n".join(lines) + "\n"


def run(names: list[str], root: str | Path = ".", keep: str | None = None, timeout: float = 1800) -> list[CheckResult]:
    """The course check of each named pipeline (all with a course profile when none), one after another."""
    root = Path(root).resolve()
    workdir = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="course-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for name in names:
            print(f"course-check {name}: running (log: {workdir / name / 'course-check.log'})", file=sys.stderr, flush=True)
            results.append(check_pipeline(root, name, workdir, timeout))
            print(format_results(results[-1:]).splitlines()[1], file=sys.stderr, flush=True)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def cmd_course_check(args: argparse.Namespace) -> int:
    known = course_pipelines(".")
    names = args.pipelines or known
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: no course profile for {', '.join(unknown)} (pipelines with one: {', '.join(known)})", file=sys.stderr)
        return 2
    results = run(names, ".", keep=args.keep, timeout=args.timeout)
    print(format_results(results), end="")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


def add_parser(sub) -> None:
    """Register ``course-check`` on the CLI's subparsers."""
    p = sub.add_parser(
        "course-check", help="run every course profile end to end offline (real formats, book architectures, tiny data)",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pipelines", nargs="*", metavar="PIPELINE", help="pipelines to check (default: every one with a course profile)")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (the copies, their logs and outputs)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per pipeline (default 1800)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_course_check)
