"""The DAG as DVC sees it: stage names, pipelines, upstream closure, declared metrics."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StageInfo:
    name: str
    upstream: tuple[str, ...]           # stages this one directly depends on
    metrics: tuple[str, ...] = field(default=())  # declared metrics files (paths)


def pipeline_of(stage: str) -> str:
    """``tabular-train`` -> ``tabular`` (stages are named ``<pipeline>-<step>``)."""
    return stage.split("-", 1)[0]


def read_dag(root: str | Path = ".") -> list[StageInfo]:
    """Every stage of dvc.yaml in a deterministic topological order (upstream first)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        order = nx.lexicographical_topological_sort(graph.reverse(copy=True), key=lambda s: s.addressing)
        return [
            StageInfo(
                name=s.addressing,
                upstream=tuple(sorted(d.addressing for d in graph.successors(s))),
                metrics=tuple(o.def_path for o in s.outs if o.metric),
            )
            for s in order
        ]


def pipelines(dag: list[StageInfo]) -> dict[str, list[str]]:
    """Pipeline name -> its own stages, in order."""
    out: dict[str, list[str]] = {}
    for s in dag:
        out.setdefault(pipeline_of(s.name), []).append(s.name)
    return out


def select(dag: list[StageInfo], names: list[str]) -> list[StageInfo]:
    """The stages of the named pipelines (or ``all``) plus everything upstream of them, in order.

    Raises:
        KeyError: a name is neither a pipeline nor a stage (the message lists the known ones).
    """
    by_name = {s.name: s for s in dag}
    known = pipelines(dag)
    wanted: set[str] = set()
    for name in names:
        if name == "all":
            wanted |= set(by_name)
        elif name in known:
            wanted |= set(known[name])
        elif name in by_name:
            wanted.add(name)
        else:
            raise KeyError(f"unknown pipeline or stage '{name}'; pipelines: {', '.join(known)}")
    todo = list(wanted)
    while todo:  # upstream closure
        for up in by_name[todo.pop()].upstream:
            if up not in wanted:
                wanted.add(up)
                todo.append(up)
    return [s for s in dag if s.name in wanted]


def flatten(metrics: dict, prefix: str = "") -> dict[str, float | int | str]:
    """Nested metrics -> ``{"comparison.scaled.test_accuracy": 0.83, ...}``."""
    out: dict = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def read_metrics(stages: list[StageInfo], root: str | Path = ".") -> dict[str, dict]:
    """Declared metrics files of ``stages`` that exist: path -> flattened metrics."""
    out = {}
    for s in stages:
        for path in s.metrics:
            file = Path(root) / path
            if file.exists():
                out[path] = flatten(json.loads(file.read_text()))
    return out
