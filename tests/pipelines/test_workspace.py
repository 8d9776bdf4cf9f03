"""A copy of the project that holds only some stages: the entries kept as written, the rest gone."""
from __future__ import annotations

import shutil

import pytest
import yaml

from pipelines.dag import select
from pipelines.workspace import keep_stages
from tests.conftest import ROOT, project_dag


@pytest.mark.parametrize("names", [["tabular"], ["anomaly", "gan-sagan"], ["vit"], ["all"]])
def test_keep_stages_keeps_each_entry_as_written_and_nothing_else(tmp_path, names):
    path = tmp_path / "dvc.yaml"
    shutil.copy(ROOT / "dvc.yaml", path)
    wanted = {s.name for s in select(project_dag(), names)}
    keep_stages(path, wanted)
    full = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    kept = yaml.safe_load(path.read_text())["stages"]
    assert set(kept) == wanted and all(kept[name] == full[name] for name in kept)
    assert "params-check" in kept and all(up in kept for s in select(project_dag(), names) for up in s.upstream)
    if names == ["all"]:
        assert path.read_text() == (ROOT / "dvc.yaml").read_text()  # byte for byte, comments included


def test_keep_stages_refuses_an_unknown_stage_and_a_file_it_cannot_split(tmp_path):
    path = tmp_path / "dvc.yaml"
    path.write_text("stages:\n  a:\n    cmd: echo a\n  # the next one\n  b:\n    cmd: echo b\n\n# the end\n")
    with pytest.raises(KeyError, match="no stage"):
        keep_stages(path, {"a", "c"})
    keep_stages(path, {"b"})
    assert path.read_text() == "stages:\n  # the next one\n  b:\n    cmd: echo b\n\n# the end\n"
    path.write_text("stages:\n  a: {cmd: echo a}\n")
    with pytest.raises(ValueError, match="cannot split"):
        keep_stages(path, {"a"})
