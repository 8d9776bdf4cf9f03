"""Stage `params-check`: the whole params.yaml checked before any pipeline's first stage runs.

Why a stage. DVC decides whether to run a stage, or to restore it from its run-cache, from the hashes
of its deps and the values of its declared params; the run-cache drops every key named ``size`` or
``nfiles`` before hashing (treeverse/dvc#10296). After ``tabular.train.size: 3`` is added,
``dvc repro`` says "Stage 'tabular-train' is cached - skipping run" and the loader that refuses such
a key never runs. This stage depends on params.yaml as a *file* (its md5, not the values of chosen
keys), so any edit of params.yaml reruns it, on every path that runs the DAG (``dvc repro``,
``make repro``, ``python -m pipelines run``, a queued experiment); and every pipeline's first stage
depends on its output, so a bad params.yaml stops the run here, before DVC decides about any stage
downstream.

What it checks: YAML syntax (``params.yaml:LINE:COL``), unknown top-level sections, a key named
``size`` or ``nfiles`` at any depth, and every section that stages read against its schema. The
sections only the Prefect side reads (``orchestration``, ``retrain``; their schemas live in
``pipelines/``, which stages never import) are checked by ``python -m pipelines run`` and ``serve``.

Output: ``ok.json``, the same bytes whatever params.yaml holds: a valid edit reruns this stage and
nothing downstream of it (DVC sees an unchanged hash).
"""
from __future__ import annotations

import logging
from pathlib import Path

from stages.core.errors import ParamsError
from stages.core.params import OPTIONAL_SECTIONS, SECTIONS, check_file, parse_params, schema, validate_section
from stages.core.runtime import run_stage
from stages.core.stage import Declared

log = logging.getLogger(__name__)

# schema(section) imports each pipeline's params module by the name SECTIONS gives: they are this
# stage's code too (`python -m pipelines deps` lists them in dvc.yaml; a new pipeline's module matches)
RUNTIME_IMPORTS = ("stages.*.params",)

# ok.json's content: constant, so that the stages depending on it never rerun because this one did
OK = {"params": "valid"}


def stage_sections() -> list[str]:
    """The registered sections whose schema lives under ``stages/`` (those the DVC stages read)."""
    return [section for section, target in SECTIONS.items() if target.startswith("stages.")]


def check_params(text: str, path: Path | str = "params.yaml") -> list[str]:
    """Check params.yaml's text whole: syntax, top-level sections, key names, every stage section.

    Returns:
        the sections validated against their schema.

    Raises:
        ParamsError: one line per problem, each naming the file and the key path (or line and column).
    """
    data = parse_params(text, path)
    check_file(data, path)  # unknown sections; size/nfiles anywhere, orchestration and retrain included
    sections, lines = stage_sections(), []
    for section in sections:
        tree = {**data, section: {}} if section not in data and section in OPTIONAL_SECTIONS else data
        try:
            validate_section(tree, section, schema(section), path)
        except ParamsError as exc:
            lines.append(str(exc))
    if lines:
        raise ParamsError("\n".join(lines))
    return sections


def main(stage: Declared) -> None:
    path = stage.dep("params.yaml")
    sections = check_params(path.read_text(), path)
    log.info("%s: valid (%d sections checked: %s)", path, len(sections), ", ".join(sections))
    with stage.outputs() as out:
        out.json(stage.out("ok.json"), OK)


if __name__ == "__main__":
    run_stage(main)
