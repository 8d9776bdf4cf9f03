"""Bad input to the CLI: one error line naming the file, line and column, never a traceback."""
from __future__ import annotations

import subprocess

import pytest

from pipelines.cli import main
from tests.conftest import BIN, ROOT, run_env

BROKEN = "tabular:\n  train:\n    C: [1, 2\n    kernel: rbf\n"   # the flow list is never closed


@pytest.mark.parametrize("argv", [
    ["sweep", "tabular", "-S", "tabular.train.C=1,2"],
    ["profile", "apply", "course", "tabular"],
    ["profile", "show", "course", "tabular"],
    ["run", "tabular"], ["list"], ["metrics"], ["history", "tabular"], ["plots"], ["runs", "tabular"],
    ["remote", "prepare", "tabular"], ["serve", "retrain", "--cron", "0 3 * * *"],
])
def test_a_malformed_params_yaml_is_one_line_with_line_and_column(argv, tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: params.yaml:4:11: not valid YAML:"), err


def test_a_malformed_dvc_yaml_is_one_line_too(tmp_path, monkeypatch, capsys):
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=tmp_path, env=run_env(), check=True)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text("stages:\n  a-b:\n    cmd: [echo\n")
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: dvc.yaml:4:1: not valid YAML:"), err
