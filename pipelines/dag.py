"""The DAG as DVC sees it: stage names, pipelines, upstream closure, declared metrics."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Headline:
    """A pipeline's headline metric, declared in dvc.yaml on the stage that writes it::

        tabular-evaluate:
          meta:
            headline: {metric: test_accuracy, higher_is_better: true}   # `file:` too if it has several

    ``python -m pipelines sweep`` ranks experiments by it.
    """
    stage: str
    file: str                           # the stage's metrics file holding it
    metric: str                         # key inside it, nested keys joined by dots
    higher_is_better: bool

    @property
    def name(self) -> str:
        """``file:metric``, as the sweep's table names metrics."""
        return f"{self.file}:{self.metric}"


@dataclass(frozen=True)
class StageInfo:
    name: str
    upstream: tuple[str, ...]           # stages this one directly depends on
    metrics: tuple[str, ...] = field(default=())  # declared metrics files (paths)
    params: tuple[str, ...] = field(default=())   # declared params keys ("params.yaml" alone: the whole file)
    headline: Headline | None = None    # meta.headline, when this stage declares one
    headline_error: str = ""            # why its meta.headline is malformed (raised by headline(), only there)
    train: bool = False                 # meta.train: a training stage (the GPU-host handoff stops before it)
    train_error: str = ""               # why its meta.train is malformed (raised by remote.training_stages)
    source: bool | None = None          # meta.source: whether it reads the outside world (None: by position)
    source_error: str = ""              # why its meta.source is malformed (raised by is_source)


def parse_headline(stage: str, meta: object, metrics: tuple[str, ...]) -> Headline | None:
    """``meta.headline`` of a dvc.yaml stage, checked; None when it declares none.

    Raises:
        ValueError: a malformed declaration (the message names the stage and what is wrong).
    """
    if not isinstance(meta, dict) or "headline" not in meta:
        return None
    where = f"dvc.yaml: {stage}: meta.headline"
    decl = meta["headline"]
    if not isinstance(decl, dict) or set(decl) - {"metric", "higher_is_better", "file"}:
        raise ValueError(f"{where}: expected {{metric: KEY, higher_is_better: true|false[, file: PATH]}}, got {decl!r}")
    metric, higher = decl.get("metric"), decl.get("higher_is_better")
    if not isinstance(metric, str) or not metric or not isinstance(higher, bool):
        raise ValueError(f"{where}: needs metric (a key of its metrics file) and higher_is_better (true|false), got {decl!r}")
    file = decl.get("file")
    if file is None:
        if len(metrics) != 1:
            raise ValueError(f"{where}: the stage declares {len(metrics)} metrics files; name one with file:")
        file = metrics[0]
    elif file not in metrics:
        raise ValueError(f"{where}: file {file} is not one of the stage's metrics ({', '.join(metrics) or 'none'})")
    return Headline(stage, file, metric, higher)


def parse_train(stage: str, meta: object) -> bool:
    """``meta.train`` of a dvc.yaml stage: True marks a training stage, absent means False.

    Raises:
        ValueError: a value other than true or false (the message names the stage).
    """
    return parse_flag(stage, meta, "train", False)


def parse_flag(stage: str, meta: object, key: str, default: bool | None) -> bool | None:
    """A true/false flag ``meta.<key>`` of a dvc.yaml stage, ``default`` when absent.

    Raises:
        ValueError: a value other than true or false (the message names the stage and the key).
    """
    value = meta.get(key, default) if isinstance(meta, dict) else default
    if value is not default and not isinstance(value, bool):
        raise ValueError(f"dvc.yaml: {stage}: meta.{key}: expected true or false, got {value!r}")
    return value


# Stages that belong to no pipeline and run before every one: params-check validates params.yaml whole
# (stages/params/check.py); every pipeline's first stage depends on its output.
GUARD_STAGES = ("params-check",)


def is_source(stage: StageInfo) -> bool:
    """A stage that reads the outside world (a download, your files): a pipeline's first stage (nothing
    upstream but the guard stages), unless dvc.yaml says otherwise with ``meta: {source: false}`` (a
    first stage that computes its data from code and params, as the rl pipeline's environments).

    Raises:
        ValueError: a malformed ``meta.source``.
    """
    if stage.source_error:
        raise ValueError(stage.source_error)
    if stage.source is not None:
        return stage.source
    return stage.name not in GUARD_STAGES and set(stage.upstream) <= set(GUARD_STAGES)


def pipeline_of(stage: str) -> str:
    """``tabular-train`` -> ``tabular`` (stages are named ``<pipeline>-<step>``)."""
    return stage.split("-", 1)[0]


def read_dag(root: str | Path = ".") -> list[StageInfo]:
    """Every stage of dvc.yaml in a deterministic topological order (upstream first)."""
    import networkx as nx
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        order = nx.lexicographical_topological_sort(graph.reverse(copy=True), key=lambda s: s.addressing)
        out = []
        for s in order:
            metrics = tuple(o.def_path for o in s.outs if o.metric)
            params = tuple(key for d in s.deps if isinstance(d, ParamsDependency)
                           for key in (d.params or [d.def_path]))
            try:
                head, error = parse_headline(s.addressing, s.meta, metrics), ""
            except ValueError as exc:
                head, error = None, str(exc)
            try:
                train, train_error = parse_train(s.addressing, s.meta), ""
            except ValueError as exc:
                train, train_error = False, str(exc)
            try:
                source, source_error = parse_flag(s.addressing, s.meta, "source", None), ""
            except ValueError as exc:
                source, source_error = None, str(exc)
            out.append(StageInfo(name=s.addressing, upstream=tuple(sorted(d.addressing for d in graph.successors(s))),
                                 metrics=metrics, params=params, headline=head, headline_error=error,
                                 train=train, train_error=train_error, source=source, source_error=source_error))
        return out


def pipelines(dag: list[StageInfo]) -> dict[str, list[str]]:
    """Pipeline name -> its own stages, in order (the guard stages are no pipeline's)."""
    out: dict[str, list[str]] = {}
    for s in dag:
        if s.name not in GUARD_STAGES:
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


def headline(dag: list[StageInfo], pipeline: str) -> Headline | None:
    """The headline metric ``pipeline`` declares (``meta.headline`` on one of its stages), or None.

    Raises:
        ValueError: more than one of its stages declares one, or a declaration is malformed.
    """
    own = set(pipelines(dag).get(pipeline, []))
    errors = [s.headline_error for s in dag if s.name in own and s.headline_error]
    if errors:
        raise ValueError(errors[0])
    found = [s.headline for s in dag if s.name in own and s.headline is not None]
    if len(found) > 1:
        raise ValueError(f"dvc.yaml: pipeline {pipeline} declares meta.headline on {len(found)} stages "
                         f"({', '.join(h.stage for h in found)}): keep one")
    return found[0] if found else None


def read_metrics(stages: list[StageInfo], root: str | Path = ".") -> dict[str, dict]:
    """Declared metrics files of ``stages`` that exist: path -> flattened metrics."""
    out = {}
    for s in stages:
        for path in s.metrics:
            file = Path(root) / path
            if file.exists():
                out[path] = flatten(json.loads(file.read_text()))
    return out
