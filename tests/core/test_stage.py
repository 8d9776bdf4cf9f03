"""A stage's declaration: found in dvc.yaml by its module, paths looked up by suffix, outputs bound to it."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stages.core.errors import StageError
from stages.core.stage import declared, module_of_cmd, read_dvc_file
from tests.conftest import ROOT, run_env

DVC_YAML = {
    "stages": {
        "demo-prepare": {
            "cmd": "python -m stages.demo.prepare",
            "deps": ["data/demo/raw.parquet", "data/demo/extra/raw.parquet", "data/demo/labels.csv",
                     "stages/demo/prepare.py", "stages/core/io.py"],
            "params": ["common.seed", "demo.prepare", {"other.yaml": ["x.y"]}],
            "outs": ["artifacts/demo/prepare/model.pkl", "artifacts/demo/prepare/model.pkl.sha256",
                     "artifacts/demo/prepare/tables"],
            "metrics": ["artifacts/demo/prepare/metrics.json"],
            "plots": [{"artifacts/demo/prepare/curve.csv": {"x": "step", "y": "loss"}}],
        },
        "demo-twice-a": {"cmd": "python -m stages.demo.twice", "outs": ["a"]},
        "demo-twice-b": {"cmd": "python -m stages.demo.twice", "outs": ["b"]},
        "demo-ddp": {"cmd": "torchrun --nproc_per_node 2 -m stages.demo.ddp", "outs": ["artifacts/demo/ddp/model.pt"]},
    }
}


@pytest.fixture
def dvc_file(tmp_path: Path) -> Path:
    path = tmp_path / "dvc.yaml"
    path.write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    read_dvc_file.cache_clear()
    return path


def test_declaration_splits_data_code_outs_and_params(dvc_file):
    s = declared("stages.demo.prepare", dvc_file)
    assert s.name == "demo-prepare"
    assert s.deps == ("data/demo/raw.parquet", "data/demo/extra/raw.parquet", "data/demo/labels.csv")
    assert s.code == ("stages/demo/prepare.py", "stages/core/io.py")
    assert s.outs == ("artifacts/demo/prepare/model.pkl", "artifacts/demo/prepare/model.pkl.sha256",
                      "artifacts/demo/prepare/tables", "artifacts/demo/prepare/metrics.json",
                      "artifacts/demo/prepare/curve.csv")
    assert s.params == ("common.seed", "demo.prepare", "x.y")


def test_lookup_by_unique_suffix_of_whole_components(dvc_file):
    s = declared("stages.demo.prepare", dvc_file)
    assert s.dep("labels.csv") == Path("data/demo/labels.csv")
    assert s.dep("extra/raw.parquet") == Path("data/demo/extra/raw.parquet")
    assert s.dep("demo/raw.parquet") == Path("data/demo/raw.parquet")
    assert s.out("model.pkl") == Path("artifacts/demo/prepare/model.pkl")  # not model.pkl.sha256
    assert s.out("tables") == Path("artifacts/demo/prepare/tables")
    assert s.out("curve.csv") == Path("artifacts/demo/prepare/curve.csv")


def test_lookup_that_matches_nothing_names_the_stage_and_what_is_declared(dvc_file):
    s = declared("stages.demo.prepare", dvc_file)
    with pytest.raises(StageError, match=r"stage 'demo-prepare' declares no input \(deps\) ending in 'els.csv'.*data/demo/labels.csv"):
        s.dep("els.csv")  # a suffix of a file name, not a whole component
    with pytest.raises(StageError, match="declares no output"):
        s.out("raw.parquet")  # an input is not an output
    with pytest.raises(StageError, match="declares no input"):
        s.dep("prepare.py")  # code deps are not data inputs


def test_lookup_that_matches_several_lists_the_candidates(dvc_file):
    s = declared("stages.demo.prepare", dvc_file)
    with pytest.raises(StageError, match="several .* ending in 'raw.parquet': data/demo/raw.parquet, data/demo/extra/raw.parquet"):
        s.dep("raw.parquet")


def test_module_run_by_no_stage_or_by_several_is_an_error(dvc_file):
    with pytest.raises(StageError, match="no stage runs `python -m stages.demo.absent`"):
        declared("stages.demo.absent", dvc_file)
    with pytest.raises(StageError, match="stages demo-twice-a, demo-twice-b all run"):
        declared("stages.demo.twice", dvc_file)


def test_module_of_cmd_finds_the_module_after_dash_m():
    assert module_of_cmd("python -m stages.tabular.split") == "stages.tabular.split"
    assert module_of_cmd("torchrun --nproc_per_node 2 -m stages.gan.dcgan") == "stages.gan.dcgan"
    assert module_of_cmd(["echo hi", "python -m stages.x.y"]) == "stages.x.y"
    assert module_of_cmd("python stages/x/y.py") is None


def test_outputs_writes_declared_files_and_files_inside_declared_folders(dvc_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = declared("stages.demo.prepare", dvc_file)
    with s.outputs() as out:
        out.pickle(s.out("model.pkl"), {"a": 1})  # writes model.pkl and its declared .sha256 sidecar
        out.json(s.out("tables") / "one.json", {"n": 1})
        out.json(s.out("metrics.json"), {"acc": 1.0})
        out.text(s.out("curve.csv"), "step,loss\n0,1\n")
    assert (tmp_path / "artifacts/demo/prepare/tables/one.json").exists()
    assert (tmp_path / "artifacts/demo/prepare/model.pkl.sha256").exists()


def test_outputs_refuses_an_undeclared_path_and_writes_nothing(dvc_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = declared("stages.demo.prepare", dvc_file)
    with pytest.raises(StageError, match=r"stage 'demo-prepare' writes artifacts/demo/prepare/stray.json, which is not a declared output"):
        with s.outputs() as out:
            out.json(s.out("metrics.json"), {"acc": 1.0})
            out.json("artifacts/demo/prepare/stray.json", {})
    assert not (tmp_path / "artifacts").exists() or not any(p.is_file() for p in (tmp_path / "artifacts").rglob("*"))


def test_outputs_refuses_a_pickle_whose_sidecar_is_undeclared(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"p-s": {"cmd": "python -m stages.p.s", "outs": ["m.pkl"]}}}))
    read_dvc_file.cache_clear()
    with pytest.raises(StageError, match="m.pkl.sha256, which is not a declared output"):
        with declared("stages.p.s", tmp_path / "dvc.yaml").outputs() as out:
            out.pickle("m.pkl", [1])
    assert not (tmp_path / "m.pkl").exists()


def test_outputs_fails_when_a_declared_output_is_not_written_and_renames_nothing(dvc_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = declared("stages.demo.prepare", dvc_file)
    with pytest.raises(StageError, match=r"did not write its declared output\(s\) artifacts/demo/prepare/tables, artifacts/demo/prepare/curve.csv"):
        with s.outputs() as out:
            out.pickle(s.out("model.pkl"), {"a": 1})
            out.json(s.out("metrics.json"), {"acc": 1.0})
    assert not (tmp_path / "artifacts/demo/prepare/model.pkl").exists()
    assert not any(p.is_file() for p in (tmp_path / "artifacts").rglob("*"))


def test_help_prints_the_docstring_and_the_declaration():
    proc = subprocess.run([sys.executable, "-m", "stages.tabular.split", "--help"], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m stages.tabular.split [-h]" in proc.stdout
    assert "a stratified, seeded train/test split" in proc.stdout  # the module docstring
    entry = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["tabular-split"]
    assert "stage 'tabular-split'" in proc.stdout
    for path in [*entry["deps"], *entry["outs"], *entry["params"]]:
        assert f"    {path}\n" in proc.stdout


def test_a_path_argument_is_refused():
    proc = subprocess.run([sys.executable, "-m", "stages.tabular.split", "--out", "elsewhere"], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unrecognized arguments: --out elsewhere" in proc.stderr


FINISHED = {"model": "model.pt", "history": "history.csv", "metrics": "metrics.json"}  # TrainingRun.finish's defaults


def _lookups(path: Path) -> list[tuple[str, str]]:
    """Every ``stage.dep("…")`` / ``stage.out("…")`` with a literal suffix in a module, and the outputs
    ``TrainingRun.finish`` writes (its defaults, or the literal suffixes it is given) in the module or
    in the modules of its own pipeline it imports (a shared ``train_target``)."""
    found = []
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dep", "out")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "stage"
                and node.args and isinstance(node.args[0], ast.Constant)):
            found.append((node.func.attr, node.args[0].value))
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    scopes = [tree]  # the stage module, and the functions of its own pipeline it imports and calls
    for imp in ast.walk(tree):
        if isinstance(imp, ast.ImportFrom) and imp.module and imp.module.startswith(package + "."):
            names = {a.name for a in imp.names} & called
            source = ROOT.joinpath(*imp.module.split(".")).with_suffix(".py")
            if names and source.exists():
                scopes += [f for f in ast.parse(source.read_text()).body if isinstance(f, ast.FunctionDef) and f.name in names]
    for module in scopes:
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "finish":
                given = {k.arg: k.value for k in node.keywords}
                for arg, default in FINISHED.items():
                    value = given.get(arg)
                    if value is None:
                        found.append(("out", default))
                    elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.append(("out", value.value))
                for value in (given.get("figures"), given.get("run_outputs")):
                    keys = value.keys if isinstance(value, ast.Dict) else value.elts if isinstance(value, ast.Tuple) else []
                    found += [("out", k.value) for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return found


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_lookup_in_a_stage_resolves_against_its_entry(name):
    """A typo in a suffix, or a dvc.yaml edit that makes one ambiguous, fails here rather than mid-run."""
    read_dvc_file.cache_clear()
    module = module_of_cmd(STAGES[name]["cmd"])
    s = declared(module, ROOT / "dvc.yaml")
    assert s.name == name
    lookups = _lookups(ROOT.joinpath(*module.split(".")).with_suffix(".py"))
    assert lookups, f"{module} looks up none of its declared paths"
    for kind, suffix in lookups:
        getattr(s, kind)(suffix)
    used_outs = {str(s.out(suffix)) for kind, suffix in lookups if kind == "out"}
    assert {o for o in s.outs if not o.endswith(".sha256")} <= used_outs, f"{name}: a declared output no lookup names"


def test_reading_an_undeclared_file_fails_the_stage_when_reads_are_checked(tmp_path):
    """REPROLAB_CHECK_READS=1: a stage that reads a project file dvc.yaml does not list fails, naming
    the file; its declared inputs, its code, dvc.yaml and the files its params name are fine to read."""
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "s.py").write_text(
        "import os, shutil\n"
        "from pathlib import Path\n"
        "from stages.core.runtime import run_stage\n\n\n"
        "def main(stage):\n"
        "    os.makedirs('scratch/a/b')\n"
        "    shutil.rmtree('scratch')  # opens each folder by a name relative to its parent's descriptor\n"
        "    text = stage.dep('in.txt').read_text() + Path('extra.txt').read_text()\n"
        "    with stage.outputs() as out:\n"
        "        out.text('out.txt', text)\n\n\n"
        "if __name__ == '__main__':\n"
        "    run_stage(main)\n")
    for name in ("in.txt", "extra.txt"):
        (tmp_path / name).write_text(name)
    entry = {"cmd": "python -m probe.s", "deps": ["in.txt", "probe/s.py"], "outs": ["out.txt"]}

    def run(deps: list[str], check: str) -> subprocess.CompletedProcess:
        (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"p-s": {**entry, "deps": deps}}}))
        env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "REPROLAB_CHECK_READS": check,
               "REPROLAB_RUNS": str(tmp_path / "runs")}
        return subprocess.run([sys.executable, "-m", "probe.s"], cwd=tmp_path, env=env, capture_output=True, text=True)

    bad = run(entry["deps"], "1")
    assert bad.returncode == 2 and "stage 'p-s' read extra.txt, which it does not declare" in bad.stderr, bad.stderr
    assert run(entry["deps"], "0").returncode == 0                        # unchecked: DVC alone never notices
    ok = run([*entry["deps"], "extra.txt"], "1")
    assert ok.returncode == 0, ok.stderr
    # a file a declared param names (a `path` source) is declared by value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"p": {"path": ["extra.txt"]}}))
    entry["params"] = ["p"]
    named = run(entry["deps"], "1")
    assert named.returncode == 0, named.stderr
