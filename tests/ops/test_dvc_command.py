"""The one runner of the ``dvc`` command line in pipelines/: its error, its output tail, and the CLI's
handling of a failing DVC command (one error line, no traceback)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.dvc_command import DvcError, dvc, dvc_executable, output_tail
from tests.conftest import BIN, run_env


def test_output_tail_keeps_the_last_lines_of_stdout_then_stderr():
    proc = subprocess.CompletedProcess(["dvc"], 1, stdout="one\ntwo", stderr="ERROR: three\n")
    assert output_tail(proc) == "one\ntwo\nERROR: three"          # no line glued to the next
    assert output_tail(proc, lines=2) == "two\nERROR: three"
    assert output_tail(subprocess.CompletedProcess(["dvc"], 1, stdout=None, stderr="")) == ""


def test_the_executable_is_the_one_beside_this_interpreter():
    assert dvc_executable() == str(Path(sys.executable).with_name("dvc"))


def test_a_failing_command_raises_with_dvcs_own_error_unless_unchecked(tmp_path):
    with pytest.raises(DvcError, match=r"(?s)^dvc status --json exited \d+:\n.*not inside of a DVC repository"):
        dvc(["status", "--json"], tmp_path)
    proc = dvc(["status", "--json"], tmp_path, check=False)
    assert proc.returncode != 0 and "not inside of a DVC repository" in proc.stderr


def test_the_cli_reports_a_failing_dvc_command_as_one_error(tmp_path, monkeypatch, capsys):
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=tmp_path, env=run_env(), check=True)
    monkeypatch.chdir(tmp_path)
    assert main(["remote", "push"]) == 1                          # no remote: dvc push fails
    err = capsys.readouterr().err
    assert err.startswith("error: dvc push --run-cache exited 1:\n") and "no remote specified" in err, err
