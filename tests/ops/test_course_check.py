"""`python -m pipelines course-check`: which pipelines it checks, how it reports (the runs are in each
pipeline's tests/<pipeline>/test_course_check.py)."""
from __future__ import annotations

import subprocess
import sys

from pipelines.course_check import CheckResult, check_module, course_pipelines, format_results, last_error
from pipelines.profiles import load_profile
from tests.conftest import ROOT, run_env


def test_every_pipeline_with_a_course_profile_is_checked_and_has_a_test():
    names = course_pipelines(ROOT)
    assert set(names) == set(load_profile("course", ROOT))
    for name in names:  # gan's check is anomaly's (anomaly runs gan's stages with gan's course settings)
        owner = "anomaly" if name == "gan" else name
        assert (ROOT / "tests" / owner / "test_course_check.py").is_file(), f"no course-check test for {name}"


def test_caps_and_standins_name_keys_of_their_own_pipeline():
    for name in course_pipelines(ROOT):
        module = check_module(name)
        for key in getattr(module, "CAPS", {}) if module else {}:
            assert key.split(".", 1)[0] == name, f"stages/{name}/course_check.py caps another pipeline's key {key}"


def test_unknown_pipeline_is_one_clear_error():
    proc = subprocess.run([sys.executable, "-m", "pipelines", "course-check", "tabular", "nosuch"], cwd=ROOT,
                          env=run_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no course profile for nosuch" in proc.stderr


def test_the_failing_stage_s_own_error_line_is_reported():
    log = """Running stage 'vit-data':
> python -m stages.vit.prepare
09:26:34 INFO stages.core.sources: http://127.0.0.1:1/c.tar.gz: md5 verified
09:26:34 ERROR reprolab: http://127.0.0.1:1/c.tar.gz: cannot split 40 images stratified
ERROR: failed to reproduce 'vit-data': failed to run: python -m stages.vit.prepare, exited with 2
"""
    assert last_error(log) == "http://127.0.0.1:1/c.tar.gz: cannot split 40 images stratified"
    assert last_error("error: one line\n") == "error: one line"
    table = format_results([CheckResult("vit", False, ["vit-data"], ["vit-data", "vit-train"], 14.0, 206, "boom")])
    assert "FAIL" in table and " 1/2 " in table and "boom" in table
