"""Code deps in dvc.yaml are exactly each stage's in-repo imports; stage modules are imported by no module."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipelines import deps
from stages.core.stage import module_of_cmd
from tests.conftest import ROOT, run_env


def test_dvc_yaml_code_deps_match_every_stage_imports():
    """Fails with one line per stage and file: `python -m pipelines deps --write` fixes dvc.yaml."""
    problems = [line for drift in deps.check(ROOT) for line in drift.lines()]
    assert not problems, "\n".join(problems)


def test_no_stage_module_is_imported_by_another_module():
    """Shared code lives in library modules: importing a stage module would make every importer rerun
    whenever the stage's own main() changes."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    entry_points = {module_of_cmd(e["cmd"]) for e in stages.values()}
    offenders = []
    for path in sorted([*ROOT.glob("stages/**/*.py"), *ROOT.glob("pipelines/**/*.py")]):
        rel = path.relative_to(ROOT)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        for imported in sorted(deps.imported_modules(path, module, ROOT) & entry_points - {module}):
            offenders.append(f"{rel} imports the stage module {imported}")
    assert not offenders, "\n".join(offenders)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


TREE = {
    "stages/__init__.py": '"""docstring only: not a dep."""\n',
    "stages/core/__init__.py": "",
    "stages/core/io.py": "from .errors import StageError\n",          # relative import
    "stages/core/errors.py": "class StageError(Exception): ...\n",
    "stages/core/unused.py": "",
    "stages/core/typing_only.py": "",
    "stages/p/__init__.py": "REGISTRY = {}\n",                           # code: a dep
    "stages/p/lib.py": "import json\n",
    "stages/p/late.py": "",
    "stages/p/params.py": "",
    "stages/p/step.py": """
        from typing import TYPE_CHECKING
        from stages.core.io import StageError
        from stages.p import params
        from . import lib
        if TYPE_CHECKING:
            from stages.core import typing_only
        def main():
            from stages.p.late import nothing   # inside a function
    """,
}


def test_closure_follows_function_relative_and_module_imports(tmp_path):
    write(tmp_path, TREE)
    got = deps.code_deps("stages.p.step", tmp_path)
    assert sorted(got) == ["stages/core/errors.py", "stages/core/io.py", "stages/p/__init__.py", "stages/p/late.py",
                           "stages/p/lib.py", "stages/p/params.py", "stages/p/step.py"]
    assert got["stages/core/errors.py"] == "stages/core/io.py"  # who imports it, for the message
    assert deps.ordered(got, "stages/p/step.py")[:2] == ["stages/p/step.py", "stages/p/__init__.py"]
    assert deps.ordered(got, "stages/p/step.py")[-2:] == ["stages/core/errors.py", "stages/core/io.py"]


def test_check_names_stage_and_file_and_write_fixes_only_code_deps(tmp_path):
    write(tmp_path, TREE)
    (tmp_path / "dvc.yaml").write_text(textwrap.dedent("""\
        # top comment
        stages:
          # the p pipeline
          p-step:
            cmd: python -m stages.p.step
            deps:
              - data/raw.csv
              - stages/p/step.py
              - stages/core/unused.py
              - stages/core/io.py
            params:
              - p.step   # keys it reads
            outs:
              - out/p

          q-other:
            cmd: echo no module
            deps:
              - stages/core/unused.py
        """))
    drifts = deps.check(tmp_path)
    assert [d.stage for d in drifts] == ["p-step"]
    lines = drifts[0].lines()
    assert "dvc.yaml: stage 'p-step' (stages.p.step) does not list stages/core/errors.py, imported by stages/core/io.py" in lines
    assert "dvc.yaml: stage 'p-step' (stages.p.step) lists stages/core/unused.py, which it does not import" in lines

    assert deps.write(tmp_path) == ["p-step"]
    text = (tmp_path / "dvc.yaml").read_text()
    assert deps.check(tmp_path) == []
    assert text.startswith("# top comment\nstages:\n  # the p pipeline\n") and "- p.step   # keys it reads" in text
    assert yaml.safe_load(text)["stages"]["p-step"]["deps"] == [
        "data/raw.csv", "stages/p/step.py", "stages/p/__init__.py", "stages/p/late.py", "stages/p/lib.py",
        "stages/p/params.py", "stages/core/errors.py", "stages/core/io.py"]
    assert "\n\n  q-other:\n" in text and yaml.safe_load(text)["stages"]["q-other"]["deps"] == ["stages/core/unused.py"]
    assert deps.write(tmp_path) == [] and (tmp_path / "dvc.yaml").read_text() == text


def test_cli_check_exits_1_with_the_diff_and_write_repairs(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "pipelines", repo / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    current = (ROOT / "dvc.yaml").read_text()
    assert "      - stages/core/errors.py\n" in current
    broken = current.replace("      - stages/core/errors.py\n", "", 1)  # the first stage that lists it
    (repo / "dvc.yaml").write_text(broken)
    run = lambda *a: subprocess.run([sys.executable, "-m", "pipelines", "deps", *a], cwd=repo,  # noqa: E731
                                    env=run_env(PYTHONPATH=str(repo)), capture_output=True, text=True, timeout=120)
    proc = run()
    assert proc.returncode == 1
    assert "does not list stages/core/errors.py" in proc.stderr and "pipelines deps --write" in proc.stderr
    assert run("--write").returncode == 0
    assert (repo / "dvc.yaml").read_text() == current  # back to the file in the repository, byte for byte
    assert run().returncode == 0


def test_imported_modules_sees_every_form(tmp_path):
    write(tmp_path, TREE)
    path = tmp_path / "stages/p/step.py"
    got = deps.imported_modules(path, "stages.p.step", tmp_path)
    assert got == {"stages", "stages.core", "stages.core.io", "stages.p", "stages.p.params", "stages.p.lib", "stages.p.late"}
    assert ast.parse(path.read_text())  # the fixture is valid Python


def test_no_stage_depends_on_the_operations_harness_and_the_docs_table_is_current():
    """An edit of pipelines/ reruns no stage; docs/code-deps.md shows what an edit of each core module reruns."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    harness = [(name, d) for name, entry in stages.items() for d in entry.get("deps") or [] if str(d).startswith("pipelines/")]
    assert harness == []
    rows = dict(deps.impact(ROOT))
    assert all(rows[m] == [] for m in rows if m.startswith("pipelines/"))
    assert set(rows["stages/core/stage.py"]) == set(stages)  # every stage reads its declaration through it
    page = (ROOT / "docs/code-deps.md").read_text()
    table = page.split("<!-- impact table: python -m pipelines deps --impact -->\n", 1)[1].split("<!-- end of impact table -->", 1)[0]
    assert table == deps.impact_table(ROOT), "docs/code-deps.md is stale: `python -m pipelines deps --write` rewrites it"


def test_modules_imported_by_name_at_run_time_are_code_deps_where_declared(tmp_path):
    """``RUNTIME_IMPORTS = ("stages.*.params",)``: every pipeline's params module (one name for ``*``)
    and what it imports; a module that imports by name without declaring it gets nothing extra."""
    write(tmp_path, {
        "stages/check/run.py": 'import importlib\nRUNTIME_IMPORTS = ("stages.*.params",)\n',
        "stages/check/other.py": "import importlib\n",
        "stages/a/params.py": "from stages.core import errors\n",
        "stages/b/params.py": "",
        "stages/b/deeper/params.py": "",
        "stages/core/errors.py": "",
    })
    assert sorted(deps.code_deps("stages.check.run", tmp_path)) == [
        "stages/a/params.py", "stages/b/params.py", "stages/check/run.py", "stages/core/errors.py"]
    assert sorted(deps.code_deps("stages.check.other", tmp_path)) == ["stages/check/other.py"]
