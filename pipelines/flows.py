"""Prefect flows derived from dvc.yaml: one task per DVC stage, run through DVC.

Each task runs ``dvc repro --single-item <stage>``: DVC decides from its hashes whether the stage
runs, is skipped, or is restored from the run-cache, and writes dvc.lock exactly as a plain
``dvc repro`` would. One ``dvc status`` call up front lets the flow skip, without starting DVC again,
every stage that DVC reports unchanged and that nothing upstream of it has rerun. Tasks use ``cache_policy=NONE`` (a Prefect cache over a DVC stage would skip
restoring its outputs) and run one at a time (DVC holds a repository lock).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.states import Failed

from pipelines.dag import StageInfo, read_dag, read_metrics, select
from pipelines.dvc_command import dvc, dvc_executable
from stages.core.params import Params, load_section
from stages.core.runtime import BAD_INPUT_EXIT
from stages.core.runs import format_run_record, read_run_record, runs_table

RAN, SKIPPED, RESTORED = "ran", "skipped", "restored from run-cache"
BAD_INPUT = "BadInput"  # name of a task state for a stage stopped by bad params or data: never retried


class BadInput(Exception):
    """A stage stopped on bad input (params.yaml or data); its message is the stage's own error."""


class OrchestrationParams(Params):
    """The ``orchestration:`` section of params.yaml (read by Prefect only, no stage)."""

    retries: int
    retry_delay_seconds: float


def outcome(stage: str, output: str) -> str:
    """What DVC did with ``stage``, from its output."""
    if f"Running stage '{stage}'" in output:
        return RAN
    if f"Stage '{stage}' is cached" in output:
        return RESTORED
    return SKIPPED


def changed_stages(root: str) -> set[str]:
    """Stages that ``dvc status`` reports as changed (deps, params, outs, or outputs not in cache)."""
    proc = dvc(["status", "--json"], root)
    return {name.rsplit(":", 1)[-1] for name in json.loads(proc.stdout or "{}")}


@task(cache_policy=NONE, task_run_name="{stage}")
def unchanged_stage(stage: str) -> str:
    """A stage DVC reported unchanged, with nothing upstream rerun: recorded, not run."""
    get_run_logger().info("Stage '%s' didn't change (dvc status), skipping", stage)
    return SKIPPED


@task(cache_policy=NONE, task_run_name="{stage}")
def repro_stage(stage: str, root: str) -> str:
    """Run one DVC stage (if DVC finds it changed), streaming DVC's output into the task log."""
    logger = get_run_logger()
    proc = subprocess.Popen(
        [dvc_executable(), "repro", "--single-item", stage],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line.rstrip())
        if line.strip():
            logger.info("%s", line.rstrip())
    if proc.wait() != 0:
        message = bad_input_message(lines)
        if message is not None:
            # returned, not raised: no traceback, and the retry condition below sees the state's name
            return Failed(name=BAD_INPUT, message=f"{stage}: {message}")
        tail = "\n".join(lines[-15:])
        raise RuntimeError(f"dvc repro {stage} exited {proc.returncode}:\n{tail}")
    return outcome(stage, "\n".join(lines))


def bad_input_message(lines: list[str]) -> str | None:
    """The stage's own error message when DVC reports that it exited with ``BAD_INPUT_EXIT`` (a
    :class:`~stages.core.errors.StageError`), else ``None`` (a bug or a crash: worth a retry).

    The message is what ``run_stage`` logged (``HH:MM:SS ERROR reprolab: <message>``) up to DVC's
    own ``ERROR: failed to reproduce`` line; a multi-line params error keeps its lines, joined by "; ".
    """
    if not any(re.search(rf"exited with {BAD_INPUT_EXIT}$", line) for line in lines):
        return None
    found: list[str] = []
    for line in lines:
        if line.startswith("ERROR: failed to reproduce"):
            break
        if found or " ERROR reprolab: " in line:
            found.append(line.split(" ERROR reprolab: ", 1)[-1].strip())
    return "; ".join(x for x in found if x) or "stopped on bad input (see the stage log)"


def retry_unless_bad_input(task, task_run, state) -> bool:  # noqa: ARG001 - Prefect's signature
    """Prefect retry condition: retry a crash, not a stage that refused its params or data."""
    return state.name != BAD_INPUT


def metrics_table(metrics: dict[str, dict]) -> str:
    """Markdown table: one row per metric, grouped by file."""
    rows = ["| file | metric | value |", "|---|---|---|"]
    for path, values in metrics.items():
        for key, value in values.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            rows.append(f"| `{path}` | {key} | {shown} |")
    return "\n".join(rows) if len(rows) > 2 else "_no metrics declared by these stages_"


def run_stages(stages: list[StageInfo], root: str, retries: int, retry_delay_seconds: float) -> dict[str, str]:
    """Run the stages one by one, in DAG order; returns stage -> outcome.

    A stage goes through ``dvc repro`` when DVC reports it changed or an upstream stage reran;
    otherwise it is recorded as skipped.
    """
    changed = changed_stages(root)
    results: dict[str, str] = {}
    for s in stages:
        if s.name in changed or any(results.get(up, SKIPPED) != SKIPPED for up in s.upstream):
            task_fn = repro_stage.with_options(name=f"dvc-{s.name}", retries=retries, retry_delay_seconds=retry_delay_seconds,
                                               retry_condition_fn=retry_unless_bad_input)
            state = task_fn(s.name, root, return_state=True)
            if state.name == BAD_INPUT:
                raise BadInput(state.message)
            results[s.name] = state.result()  # raises a crash's exception, after its retries
        else:
            results[s.name] = unchanged_stage.with_options(name=f"dvc-{s.name}")(s.name)
    return results


@flow(name="dvc-pipelines", flow_run_name="repro {names}", log_prints=True)
def repro_flow(names: list[str], root: str = ".") -> dict:
    """Reproduce the named pipelines (and everything upstream of them) stage by stage through DVC.

    Returns:
        ``{"stages": {stage: "ran" | "skipped" | "restored from run-cache"}, "metrics": {file: {...}}}``;
        the metrics are also published as a Prefect markdown artifact.
    """
    root = str(Path(root).resolve())
    settings = load_section("orchestration", OrchestrationParams, Path(root) / "params.yaml")
    stages = select(read_dag(root), names)
    try:
        results = run_stages(stages, root, settings.retries, settings.retry_delay_seconds)
    except BadInput as exc:  # one line for the user (the CLI prints the state's message), no traceback
        return Failed(message=str(exc))
    metrics = read_metrics(stages, root)
    create_markdown_artifact(
        key="metrics-" + "-".join(n.lower() for n in names),
        markdown=f"# Metrics after `repro {' '.join(names)}`\n\n{metrics_table(metrics)}\n",
        description="DVC metrics of the reproduced stages",
    )
    logger = get_run_logger()
    logger.info("stages: %s", results)
    runs = publish_run_records(results, root, key="runs-" + "-".join(n.lower() for n in names))
    return {"stages": results, "metrics": metrics, "runs": runs}


def publish_run_records(results: dict[str, str], root: str, key: str) -> dict[str, dict]:
    """Log the run records of the stages that ran and publish them as a Prefect table artifact
    (wall and CPU time, peak memory, device, host, commit per stage; kept out of every output).

    Returns:
        stage -> its run record, for the stages that ran and left one.
    """
    logger = get_run_logger()
    runs = {name: read_run_record(name, root) for name, result in results.items() if result == RAN}
    runs = {k: v for k, v in runs.items() if v}
    for record in runs.values():
        logger.info("run record: %s", format_run_record(record))
    if runs:
        from prefect.artifacts import create_table_artifact

        create_table_artifact(key=key, table=runs_table(list(runs.values())),
                              description="run records of the stages this flow ran (.reprolab/runs/)")
    return runs
