"""Stage `params-check`: params.yaml checked whole before any pipeline's first stage, so a key DVC's
run-cache ignores (size, nfiles: treeverse/dvc#10296) is refused on every path, before DVC decides."""
from __future__ import annotations

import pytest
import yaml

from stages.core.errors import ParamsError
from stages.params.check import check_params, stage_sections
from tests.conftest import ROOT
from tests.core.test_params import with_value as params_with_value

TEXT = (ROOT / "params.yaml").read_text()


def with_value(dotted: str, value) -> str:
    """params.yaml's text with ``dotted`` set (added when absent)."""
    return yaml.safe_dump(params_with_value(dotted, value), sort_keys=False)


def test_the_committed_params_are_valid_and_every_stage_section_is_checked():
    assert check_params(TEXT) == stage_sections()
    assert {"common", "tabular", "nlp", "diffusion"} <= set(stage_sections())
    assert "orchestration" not in stage_sections()   # its schema is the Prefect side's (pipelines/)


@pytest.mark.parametrize("dotted", ["tabular.train.size", "nlp.download.nfiles", "retrain.gate.0.size"])
def test_a_key_dvcs_run_cache_ignores_is_refused_anywhere(dotted):
    with pytest.raises(ParamsError, match=rf"params.yaml: {dotted.replace('.', '[.]')}: a param may not be named"):
        check_params(with_value(dotted, 3), "params.yaml")


def test_every_section_is_validated_and_each_problem_named():
    text = with_value("vit.train.epochs", "three")
    text = yaml.safe_dump({**yaml.safe_load(text), "tabulr": {}}, sort_keys=False)
    with pytest.raises(ParamsError) as exc:
        check_params(text, "params.yaml")
    assert "params.yaml: tabulr: unknown section" in str(exc.value)
    with pytest.raises(ParamsError, match=r"params.yaml: vit\.train\.epochs: .*\(got 'three'\)"):
        check_params(with_value("vit.train.epochs", "three"), "params.yaml")


def test_bad_yaml_names_line_and_column():
    with pytest.raises(ParamsError, match=r"^params.yaml:3:1: not valid YAML"):
        check_params("tabular:\n  train: [1\n", "params.yaml")


def test_pipelines_first_stages_depend_on_the_check():
    """Every stage with no other upstream depends on the check's output, and the check on params.yaml
    as a file (any edit reruns it; a `params:` entry would hash only chosen keys' values)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    check = stages["params-check"]
    assert "params.yaml" in check["deps"] and "params" not in check
    ok = check["outs"][0]
    produced = [o if isinstance(o, str) else next(iter(o)) for s in stages.values()
                for kind in ("outs", "metrics", "plots") for o in s.get(kind, [])]
    def upstream(dep: str) -> bool:  # noqa: E306 - an output, inside an output folder, or a folder holding one
        return any(dep == o or dep.startswith(o + "/") or o.startswith(dep + "/") for o in produced)
    firsts = [name for name, s in stages.items() if name != "params-check"
              and not any(upstream(d) for d in s.get("deps", []) if d != ok)]
    assert len(firsts) >= 9
    missing = [name for name in firsts if ok not in stages[name]["deps"]]
    assert not missing, f"first stages without {ok} in deps: {missing}"


def test_size_key_stops_dvc_repro_before_the_run_cache_restores(tabular_repo):
    repo = tabular_repo
    repo.commit("reproduced")
    repo.set_param("tabular.train.size", 3)
    proc = repo.dvc("repro", "tabular-evaluate", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "tabular.train.size: a param may not be named 'size'" in out, out
    assert "failed to reproduce 'params-check'" in out and "tabular-train" not in out
    # `python -m pipelines run` refuses it too, before any flow starts
    proc = repo.python("-m", "pipelines", "run", "tabular", check=False)
    assert proc.returncode == 2 and "tabular.train.size: a param may not be named 'size'" in proc.stderr
    # a valid edit elsewhere reruns the check only: its output's bytes do not change, so nothing downstream runs
    repo.run("git", "checkout", "params.yaml")
    repo.set_param("nlp.train.epochs", 2)
    proc = repo.dvc("repro", "tabular-evaluate")
    assert "Running stage 'params-check'" in proc.stdout and repo.ran_stages(proc) == [], proc.stdout


def test_the_check_changes_no_data_stage_output(reproduced_tabular):
    """The tabular outputs reproduced with params-check in the DAG are the bytes the committed dvc.lock
    (made before it existed) records (the project's: a test copy starts from an empty one)."""
    repo = reproduced_tabular
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    now = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    assert "params-check" in now
    compared = 0
    for name, entry in committed.items():
        if name.startswith("tabular-") and name in now:
            before = {o["path"]: o["md5"] for o in entry.get("outs", [])}
            after = {o["path"]: o["md5"] for o in now[name].get("outs", [])}
            assert after == before, name
            compared += 1
    assert compared == 9
