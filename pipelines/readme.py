"""The README's pipelines table, derived: ``python -m pipelines list --readme [--write]``.

One row per pipeline of dvc.yaml, in dvc.yaml's order: its name linked to its doc page, the page's
title, and its stages grouped by depth in the pipeline's own part of the DAG (``a → b, c → d``: b and c
both follow a). The doc page is ``docs/<pipeline>.md``, or else the page of ``docs/`` whose title
names the pipeline in backticks (``anomaly`` is described in ``docs/gan.md``). README.md holds the
table between two marker lines; ``--write`` replaces what is between them, and a test fails while it
is not current, so a new pipeline's row is generated, never written by hand.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipelines.dag import GUARD_STAGES, StageInfo, pipeline_of, pipelines

README = "README.md"
BEGIN = "<!-- pipelines table: generated from dvc.yaml and docs/ by `python -m pipelines list --readme --write` -->"
END = "<!-- end of the pipelines table -->"


class ReadmeError(ValueError):
    """README.md lacks the markers between which the table goes."""


def doc_page(pipeline: str, root: Path) -> Path | None:
    """``docs/<pipeline>.md``, else the docs page whose title (first line) names `` `<pipeline>` ``; None when none does."""
    own = root / "docs" / f"{pipeline}.md"
    if own.is_file():
        return own
    for page in sorted((root / "docs").glob("*.md")):
        lines = page.read_text().splitlines()
        if lines and lines[0].startswith("#") and f"`{pipeline}`" in lines[0]:
            return page
    return None


def stage_flow(dag: list[StageInfo], stages: list[str]) -> str:
    """A pipeline's stages by depth in its own sub-DAG, prefix dropped: ``download → split → train, plot``."""
    by_name = {s.name: s for s in dag}
    own, depth = set(stages), {}
    for s in dag:  # upstream first
        if s.name in own:
            depth[s.name] = max((depth[u] + 1 for u in by_name[s.name].upstream if u in own), default=0)
    levels: dict[int, list[str]] = {}
    for name in stages:
        levels.setdefault(depth[name], []).append(name.split("-", 1)[1])
    after = sorted({pipeline_of(u) for n in stages for u in by_name[n].upstream if u not in own and u not in GUARD_STAGES})
    flow = " → ".join(", ".join(names) for _, names in sorted(levels.items()))
    return flow + (f" (after {', '.join(after)})" if after else "")


def table(dag: list[StageInfo], root: str | Path = ".") -> str:
    """The markdown table, one row per pipeline, in dvc.yaml's order."""
    root = Path(root)
    order = {name: i for i, name in enumerate(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])}
    groups = {p: sorted(stages, key=order.__getitem__) for p, stages in pipelines(dag).items()}
    rows = ["| pipeline | what it is (its doc page's title) | stages |", "|---|---|---|"]
    for name, stages in sorted(groups.items(), key=lambda item: order[item[1][0]]):
        page = doc_page(name, root)
        if page is None:
            rows.append(f"| `{name}` | (no doc page: write docs/{name}.md) | {stage_flow(dag, stages)} |")
            continue
        title = page.read_text().splitlines()[0].lstrip("#").strip()
        rows.append(f"| [`{name}`]({page.relative_to(root).as_posix()}) | {title} | {stage_flow(dag, stages)} |")
    return "\n".join(rows) + "\n"


def with_table(readme: str, new_table: str) -> str:
    """README text with the part between the markers replaced by ``new_table``.

    Raises:
        ReadmeError: a marker is missing or they are out of order.
    """
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ReadmeError(f"{README}: no pipelines table between the lines {BEGIN!r} and {END!r}")
    return readme[:start + len(BEGIN)] + "\n" + new_table + readme[end:]


def main(dag: list[StageInfo], root: str | Path = ".", write: bool = False) -> int:
    """Print the table; with ``write``, put it into README.md (atomically). Exit status 0."""
    new = table(dag, root)
    if not write:
        print(new, end="")
        return 0
    path = Path(root) / README
    old = path.read_text()
    text = with_table(old, new)
    if text != old:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    print(f"{README}: pipelines table {'rewritten' if text != old else 'already current'} ({new.count(chr(10)) - 2} pipelines)")
    return 0
