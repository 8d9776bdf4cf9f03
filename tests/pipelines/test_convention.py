"""A pipeline is found by convention: nothing outside its own files lists it.

A toy pipeline is added to a copy of the project with exactly what docs/adding-a-pipeline.md asks of a
newcomer (its folder ``stages/toy/``, its dvc.yaml entries, its params.yaml section, its course profile
entry and its doc page); then the two commands that regenerate derived files run (``deps --write``,
``list --readme --write``). The test checks that the pipeline appears in the CLI, the params registry
and the params-check stage, retraining and the GPU-host handoff, the profiles (``default`` included),
the plots, the audit, the Makefile's metrics and the README's table, and that the files the newcomer
changed by hand are only those. In process, on a copy of the code and docs (no outputs, no repro).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stages
from pipelines import deps, plots, profiles, readme, remote
from pipelines.cli import main
from pipelines.dag import read_dag, select
from stages.core import params as core_params

ROOT = Path(__file__).resolve().parents[2]

TOY_PARAMS = '''"""Schema of the ``toy:`` section of params.yaml."""
from pydantic import Field

from stages.core.params import Params, load_section


class FitParams(Params):
    epochs: int = Field(ge=1, le=1000)


class ToyParams(Params):
    fit: FitParams


def load() -> ToyParams:
    return load_section("toy", ToyParams)
'''
TOY_FIT = '''"""Stage `toy-fit`: a model that is its epoch count (a toy: it only has to be found)."""
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.toy import params


def main(stage: Declared) -> None:
    epochs = params.load().fit.epochs
    with stage.outputs() as out:
        out.json(stage.out("model.json"), {"epochs": epochs})
        out.text(stage.out("history.csv"), "epoch,loss\\n" + "".join(f"{e},{1 / e}\\n" for e in range(1, epochs + 1)))


if __name__ == "__main__":
    run_stage(main)
'''
TOY_EVALUATE = '''"""Stage `toy-evaluate`: the toy model's accuracy."""
from stages.core.io import read_json
from stages.core.runtime import run_stage
from stages.core.stage import Declared


def main(stage: Declared) -> None:
    model = read_json(stage.dep("model.json"))
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), {"accuracy": 1 - 1 / model["epochs"]})


if __name__ == "__main__":
    run_stage(main)
'''
TOY_DVC = '''
  toy-fit:
    cmd: python -m stages.toy.fit
    meta: {train: true}
    deps:
      - artifacts/params/check/ok.json
    params:
      - toy.fit
    outs:
      - artifacts/toy/fit/model.json
    plots:
      - artifacts/toy/fit/history.csv:
          x: epoch
          y: loss

  toy-evaluate:
    cmd: python -m stages.toy.evaluate
    meta:
      headline: {metric: accuracy, higher_is_better: true}
    deps:
      - artifacts/toy/fit/model.json
    metrics:
      - artifacts/toy/evaluate/metrics.json
'''
NEWCOMER = {"stages/toy/__init__.py", "stages/toy/params.py", "stages/toy/fit.py", "stages/toy/evaluate.py",
            "dvc.yaml", "params.yaml", "profiles/course.yaml", "docs/toy.md"}
GENERATED = {"README.md", "docs/code-deps.md"}  # rewritten by `deps --write` and `list --readme --write`


def git(root: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args]
    return subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout


def copy_code(dest: Path) -> Path:
    """The project's code, config and docs (no data, outputs or caches), committed in a fresh repository."""
    keep = shutil.ignore_patterns("__pycache__", "datasets", "figures", "*.npz", "*.gz", "*.png", "vega")
    for rel in ("stages", "pipelines", "profiles", "docs"):
        shutil.copytree(ROOT / rel, dest / rel, ignore=keep)
    for rel in ("dvc.yaml", "params.yaml", "README.md", "Makefile", ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore"):
        if (ROOT / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, dest / rel)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "the project")
    return dest


def add_toy(root: Path) -> None:
    """What docs/adding-a-pipeline.md asks of a newcomer, and nothing else."""
    for rel, text in {"stages/toy/__init__.py": "", "stages/toy/params.py": TOY_PARAMS, "stages/toy/fit.py": TOY_FIT,
                      "stages/toy/evaluate.py": TOY_EVALUATE,
                      "docs/toy.md": "# `toy` pipeline (a pipeline found by convention)\n\nTwo stages.\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    with open(root / "dvc.yaml", "a") as f:
        f.write(TOY_DVC)
    with open(root / "params.yaml", "a") as f:
        f.write("\ntoy:                    # the convention test's pipeline\n  fit:\n    epochs: 4\n")
    with open(root / "profiles/course.yaml", "a") as f:
        f.write("toy:\n  fit:\n    epochs: 40\n")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A copy of the project with the toy pipeline added and its derived files regenerated; the process
    sees it as the project (working directory, params registry, ``stages.toy`` importable)."""
    root = copy_code(tmp_path / "project")
    add_toy(root)
    monkeypatch.chdir(root)  # DVC names stages relative to the working directory
    assert main(["deps", "--write"]) == 0
    assert main(["list", "--readme", "--write"]) == 0
    for section, target in core_params.pipeline_sections(root / "stages").items():  # the registry, read in the copy
        monkeypatch.setitem(core_params.SECTIONS, section, target)
    monkeypatch.setattr(stages, "__path__", [*stages.__path__, str(root / "stages")])
    yield root
    for name in [m for m in sys.modules if m == "stages.toy" or m.startswith("stages.toy.")]:
        del sys.modules[name]
    if hasattr(stages, "toy"):  # the import set it on the package
        delattr(stages, "toy")


def test_a_new_pipeline_needs_no_edit_outside_its_own_files(toy, capsys):
    changed = {line[3:] for line in git(toy, "status", "--porcelain", "--untracked-files=all").splitlines()}
    assert changed - GENERATED == NEWCOMER

    # the params registry and the params-check stage, which validates every section
    assert core_params.SECTIONS["toy"] == "stages.toy.params:ToyParams"
    from stages.params.check import check_params

    assert "toy" in check_params((toy / "params.yaml").read_text())
    with pytest.raises(core_params.ParamsError, match=r"params\.yaml: toy\.fit\.epochs: Input should be greater"):
        check_params((toy / "params.yaml").read_text().replace("epochs: 4\n", "epochs: 0\n"))
    assert "stages/toy/params.py" in yaml_stage(toy, "params-check")["deps"]  # by `deps --write`
    assert deps.check(toy) == []

    # the CLI: list, run's selection, metrics (what `make repro` prints), the README's table
    capsys.readouterr()
    assert main(["list"]) == 0 and "toy:\n  toy-fit\n  toy-evaluate\n" in capsys.readouterr().out
    dag = read_dag(toy)
    assert [s.name for s in select(dag, ["toy"])] == ["params-check", "toy-fit", "toy-evaluate"]
    assert main(["metrics", "--headline"]) == 0
    assert "toy        accuracy = not yet computed (dvc repro)  (higher is better; artifacts/toy/evaluate/metrics.json)" \
        in capsys.readouterr().out
    assert "python -m pipelines metrics --headline" in (toy / "Makefile").read_text()
    row = "| [`toy`](docs/toy.md) | `toy` pipeline (a pipeline found by convention) | fit → evaluate |"
    assert row in (toy / "README.md").read_text() and readme.table(dag, toy) in (toy / "README.md").read_text()

    # retraining and the GPU-host handoff: its training stage, found by meta.train
    assert "toy-fit" in remote.training_stages(dag)
    assert remote.upstream(dag, [s for s in remote.training_stages(dag) if s.startswith("toy-")]) == ["params-check"]
    assert remote.downstream(dag, ["toy-fit"]) == ["toy-fit", "toy-evaluate"]

    # profiles: the course entry applies, and `default` (params.yaml as committed) switches back
    git(toy, "add", "-A")
    git(toy, "commit", "-qm", "the toy pipeline")
    before = (toy / "params.yaml").read_text()
    assert main(["profile", "apply", "course", "toy"]) == 0
    assert "epochs: 40" in (toy / "params.yaml").read_text()
    assert main(["profile", "apply", "default", "toy"]) == 0
    assert (toy / "params.yaml").read_text() == before

    # plots and audit read dvc.yaml (and dvc.lock once it ran): nothing to register
    assert plots.plot_targets(toy, plots.own_stages(dag, ["toy"])) == ["artifacts/toy/fit/history.csv"]
    from pipelines import audit

    assert audit.declared_metrics((toy / "dvc.yaml").read_text())["toy-evaluate"] == ["artifacts/toy/evaluate/metrics.json"]


def yaml_stage(root: Path, name: str) -> dict:
    import yaml

    return yaml.safe_load((root / "dvc.yaml").read_text())["stages"][name]
