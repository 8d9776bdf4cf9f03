"""Scheduled retraining: a Prefect flow that pulls, refreshes the data sources, reproduces, pushes,
records the run as a DVC experiment and lets the new model replace the accepted one only when it
passes a quality gate.

The *accepted* model is the one the current git commit's ``dvc.lock`` records. A candidate that passes
the gate is committed (``dvc.lock`` and the params it was made with), so ``git log`` is the history of
accepted models and ``python -m pipelines audit`` finds each of them. A candidate that fails is kept as
a DVC experiment for inspection (``dvc exp show``), the workspace is put back to the accepted outputs,
and the flow run fails with the comparison in its message.

    python -m pipelines serve retrain --cron "0 3 * * *"
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from pydantic import Field, model_validator

from pipelines import audit as audit_mod
from pipelines import remote
from pipelines.dag import GUARD_STAGES, flatten, is_source, read_dag, read_metrics, select
from pipelines.dvc_command import dvc, output_tail
from pipelines.flows import OrchestrationParams, publish_run_records, run_stages
from stages.core.params import Params, validate_section


class GateParams(Params):
    """One metric the quality gate watches."""

    file: str                    # a metrics file declared in dvc.yaml
    metric: str                  # key inside it, nested keys joined by dots (comparison.scaled.test_accuracy)
    higher_is_better: bool
    max_drop: float = Field(ge=0)  # the largest allowed worsening, in the metric's own units


class RetrainParams(Params):
    """The ``retrain:`` section of params.yaml (read by the retraining flow only, no stage)."""

    pipelines: list[str] = Field(min_length=1)
    refresh_sources: bool
    gate: list[GateParams]

    @model_validator(mode="before")
    @classmethod
    def _no_training_stages(cls, data: Any) -> Any:
        if isinstance(data, dict) and "training_stages" in data:
            raise ValueError("training_stages: no longer a key: training stages are marked in dvc.yaml, "
                             "`meta: {train: true}` on each; delete it here")
        return data


class QualityGateFailed(RuntimeError):
    """The candidate model scored worse than the accepted one by more than the allowed drop."""


def load_settings(root: Path) -> tuple[RetrainParams, OrchestrationParams]:
    """The ``retrain:`` and ``orchestration:`` sections, read afresh (the file may change between runs)."""
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    return (validate_section(data, "retrain", RetrainParams, path),
            validate_section(data, "orchestration", OrchestrationParams, path))


# ---- the gate (pure) ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GateResult:
    file: str
    metric: str
    accepted: float | None
    candidate: float | None
    max_drop: float
    higher_is_better: bool
    passed: bool
    reason: str

    @property
    def drop(self) -> float | None:
        """How much worse the candidate is (negative: better)."""
        if self.accepted is None or self.candidate is None:
            return None
        return self.accepted - self.candidate if self.higher_is_better else self.candidate - self.accepted


def check_gate(gate: GateParams, accepted: dict | None, candidate: dict | None) -> GateResult:
    """Compare one metric of the candidate with the accepted model's.

    Args:
        accepted: the accepted model's metrics file, flattened; None when there is no accepted model yet.
        candidate: the candidate's, flattened; None when the file was not written.

    Returns:
        The verdict; a candidate without the metric fails, a first model (no accepted one) passes.
    """
    base = dict(file=gate.file, metric=gate.metric, max_drop=gate.max_drop, higher_is_better=gate.higher_is_better)
    new = (candidate or {}).get(gate.metric)
    if not isinstance(new, (int, float)):
        known = ", ".join(sorted(k for k, v in (candidate or {}).items() if isinstance(v, (int, float)))) or "none"
        return GateResult(**base, accepted=None, candidate=None, passed=False,
                          reason=f"{gate.file} has no numeric metric '{gate.metric}' (metrics there: {known})")
    old = (accepted or {}).get(gate.metric)
    if not isinstance(old, (int, float)):
        return GateResult(**base, accepted=None, candidate=float(new), passed=True,
                          reason="no accepted value yet: the first model is accepted")
    result = GateResult(**base, accepted=float(old), candidate=float(new), passed=True, reason="")
    drop = result.drop or 0.0
    passed = drop <= gate.max_drop + 1e-12
    verb = "dropped" if drop > 0 else "improved" if drop < 0 else "unchanged"
    reason = (f"{gate.metric} {verb} from {old:.4f} to {new:.4f} "
              f"({'worse' if drop > 0 else 'better'} by {abs(drop):.4f}; allowed drop {gate.max_drop:g})")
    return GateResult(**{**asdict(result), "passed": passed, "reason": reason})


def gate_table(results: list[GateResult], accepted_rev: str | None, experiment: str) -> str:
    """Markdown comparison, published as a Prefect artifact."""
    rows = [f"# Quality gate: candidate `{experiment}` vs accepted `{(accepted_rev or 'none')[:10]}`", "",
            "| metrics file | metric | accepted | candidate | worse by | allowed drop | verdict |",
            "|---|---|---|---|---|---|---|"]
    show = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for r in results:
        rows.append(f"| `{r.file}` | {r.metric} | {show(r.accepted)} | {show(r.candidate)} | {show(r.drop)} | "
                    f"{r.max_drop:g} | {'pass' if r.passed else '**FAIL**'} |")
    if not results:
        rows.append("| - | - | - | - | - | - | no gate applies to these stages |")
    return "\n".join(rows) + "\n"


# ---- the tasks ------------------------------------------------------------------------------------

def run(cmd: list[str], root: Path) -> str:
    """Run a command in ``root``; its output, or a RuntimeError carrying its last lines."""
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output_tail(proc)}")
    return proc.stdout


@task(cache_policy=NONE, name="dvc-pull")
def pull_task(root: str, stages: list[str]) -> str:
    """Outputs of ``stages`` and the run-cache from the default remote."""
    summary = remote.pull(root, targets=stages)
    get_run_logger().info("pull: %s", summary)
    return summary


@task(cache_policy=NONE, name="dvc-push")
def push_task(root: str, stages: list[str]) -> str:
    """Outputs of ``stages`` and the run-cache to the default remote."""
    summary = remote.push(root, targets=stages)
    get_run_logger().info("push: %s", summary)
    return summary


@task(cache_policy=NONE, task_run_name="refresh {stage}")
def refresh_task(stage: str, root: str) -> str:
    """Re-run a source stage whatever DVC thinks (``--force``) so that new upstream data enters.
    Unchanged data gives the same output hash, so nothing downstream of it reruns."""
    out = dvc(["repro", "--single-item", "--force", stage], root).stdout
    get_run_logger().info("%s", out.strip().splitlines()[-1] if out.strip() else stage)
    return stage


@task(cache_policy=NONE, name="dvc-exp-save")
def save_experiment_task(name: str, root: str, stages: list[str]) -> str:
    """Record the workspace (params, dvc.lock, metrics) as the DVC experiment ``name``; only the outputs
    of ``stages`` are committed to the cache (other pipelines' outputs may be absent on this host)."""
    dvc(["exp", "save", "--force", "--name", name, *stages], root)
    return name


def accepted_metrics(root: Path, files: list[str]) -> tuple[str | None, dict[str, dict | None]]:
    """The accepted model's metrics: each file as the HEAD commit's dvc.lock records it, read from the
    workspace or the DVC cache. Returns (HEAD's SHA or None, file → flattened metrics or None)."""
    head = audit_mod.git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    outs = audit_mod.outputs(audit_mod.parse_lock(audit_mod.read_text(root, audit_mod.LOCK, head))) if head else {}
    values: dict[str, dict | None] = {}
    for file in files:
        raw = audit_mod.read_output(root, outs[file]) if file in outs else None
        values[file] = flatten(json.loads(raw)) if raw is not None else None
    return head, values


def accept(root: Path, experiment: str, results: list[GateResult]) -> str | None:
    """Commit what produced the candidate (dvc.lock, params …): it becomes the accepted model.
    Returns the new commit's SHA, or None when nothing changed."""
    run(["git", "add", "--update"], root)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=root).returncode == 0:
        return None
    summary = "; ".join(r.reason for r in results) or "no gate"
    run(["git", "commit", "--quiet", "-m", f"retrain: accept {experiment}", "-m", summary], root)
    return audit_mod.git(root, "rev-parse", "HEAD").strip()


def restore_accepted(root: Path, stages: list[str]) -> None:
    """Put dvc.lock and the outputs of ``stages`` back to the accepted (HEAD) model; params.yaml is left
    as it is (the change that made the candidate stays visible)."""
    run(["git", "checkout", "HEAD", "--", audit_mod.LOCK], root)
    dvc(["checkout", "--force", "--allow-missing", *stages], root)


def run_name() -> str:
    """``retrain tabular`` (or ``retrain (retrain.pipelines)`` when the run takes them from params.yaml)."""
    from prefect.runtime import flow_run

    return "retrain " + " ".join(flow_run.parameters.get("names") or ["(retrain.pipelines)"])


@flow(name="retrain", flow_run_name=run_name, log_prints=True)
def retrain_flow(names: list[str] | None = None, root: str = ".") -> dict:
    """One retraining run over ``names`` (default: ``retrain.pipelines``).

    Pull (when the project has a default DVC remote) → refresh the source stages → reproduce (DVC runs
    only what changed) → push → ``dvc exp save`` → quality gate → accept (git commit) or reject.

    Returns:
        ``{"experiment", "stages", "gate": [...], "accepted": commit SHA or None}``.

    Raises:
        QualityGateFailed: a metric dropped beyond its threshold; the accepted model is kept.
    """
    logger = get_run_logger()
    path = Path(root).resolve()
    root = str(path)
    settings, orchestration = load_settings(path)
    names = list(names or settings.pipelines)
    dag = read_dag(root)
    stages = select(dag, names)
    has_remote = remote.default_remote(root) is not None
    if has_remote:
        pull_task(root, [s.name for s in stages])
    outcomes: dict[str, str] = {}
    if settings.refresh_sources:
        # params-check first (DVC decides whether it runs): a forced source stage needs its ok.json, and
        # a bad params.yaml stops the run before any data is fetched
        guards = [s for s in stages if s.name in GUARD_STAGES]
        outcomes.update(run_stages(guards, root, orchestration.retries, orchestration.retry_delay_seconds))
        for s in stages:
            if is_source(s):  # a source stage: it reads the outside world (upstream: params-check only)
                refresh_task(s.name, root)
    rest = [s for s in stages if s.name not in outcomes]
    outcomes.update(run_stages(rest, root, orchestration.retries, orchestration.retry_delay_seconds))
    publish_run_records(outcomes, root, key="runs-retrain")
    if has_remote:
        push_task(root, [s.name for s in stages])
    experiment = f"retrain-{'-'.join(names)}-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}"
    save_experiment_task(experiment, root, [s.name for s in stages])

    produced = read_metrics(stages, root)
    gates = [g for g in settings.gate if g.file in {m for s in stages for m in s.metrics}]
    for g in settings.gate:
        if g not in gates:
            logger.info("gate on %s skipped: no stage of %s declares it", g.file, names)
    head, accepted = accepted_metrics(path, [g.file for g in gates])
    results = [check_gate(g, accepted[g.file], produced.get(g.file)) for g in gates]
    create_markdown_artifact(key="retrain-gate", markdown=gate_table(results, head, experiment),
                             description=f"quality gate of {experiment}")
    failed = [r for r in results if not r.passed]
    if failed:
        restore_accepted(path, [s.name for s in stages])
        raise QualityGateFailed(
            f"quality gate failed for {experiment}: " + "; ".join(f"{r.file}: {r.reason}" for r in failed)
            + f". The accepted model (commit {(head or 'none')[:10]}) is kept in the workspace; the candidate "
            f"stays recorded as DVC experiment '{experiment}' (dvc exp show)."
        )
    commit = accept(path, experiment, results)
    logger.info("accepted %s%s", experiment, f" as commit {commit[:10]}" if commit else " (nothing changed)")
    return {"experiment": experiment, "stages": outcomes, "gate": [asdict(r) for r in results], "accepted": commit}


def serve(cron: str | None, names: list[str] | None, root: str, deployment: str = "retrain", timezone: str = "UTC",
          interval: float | None = None) -> None:
    """Serve ``retrain_flow`` as a deployment (blocks; Ctrl-C stops). One run at a time: DVC holds a
    lock on the workspace.

    Args:
        cron: cron schedule in ``timezone`` (``"0 3 * * *"``); None when ``interval`` is given.
        interval: seconds between runs instead of a cron schedule.
    """
    from prefect.schedules import Cron, Interval

    if (cron is None) == (interval is None):
        raise ValueError("give either a cron schedule or an interval, not both or neither")
    schedule = Cron(cron, timezone=timezone) if cron is not None else Interval(dt.timedelta(seconds=interval))
    retrain_flow.serve(
        name=deployment,
        schedule=schedule,
        parameters={"names": names, "root": str(Path(root).resolve())},
        description="Scheduled retraining: pull, refresh sources, dvc repro, push, dvc exp save, quality gate.",
        limit=1,
        pause_on_shutdown=False,
    )
