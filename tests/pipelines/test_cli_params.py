"""`python -m pipelines run` checks the whole params.yaml before it starts a flow."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, run_env


def test_run_refuses_an_unknown_section_before_any_stage(tmp_path):
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text() + "\nfoo:\n  bar: 1\n")
    proc = subprocess.run([sys.executable, "-m", "pipelines", "run", "tabular"], cwd=tmp_path,
                          env=run_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "params.yaml: foo: unknown section" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "dvc.lock").exists()
