"""The course check as a test: one pipeline's course profile, run end to end offline in a temporary copy."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import yaml

from pipelines.course_check import check_module, format_results, run
from pipelines.profiles import flatten, load_profile
from tests.conftest import ROOT, run_env


def assert_course_check_passes(pipeline: str, tmp_path: Path) -> dict:
    """Run ``course-check <pipeline>`` and check what it promises; returns the copy's params.

    Beyond pass/fail: every stage of the pipeline (and upstream) ran, and every value the course
    profile sets is still the course's in the copy, except the keys the pipeline's check declares
    (its caps and stand-ins): the book's architecture, sizes and optimiser are what ran.

    The check's ``dvc repro`` and its stages start from the worker's fork server, as every other
    test's do (:func:`tests.conftest.run_env`): the command passes this process's environment on.
    """
    env = run_env()
    warm = {k: env[k] for k in ("REPROLAB_FORKSERVER", "PYTHONPATH") if env.get(k)}
    try:
        with mock.patch.dict(os.environ, warm):
            return _check(pipeline, tmp_path)
    finally:  # a check's copy holds gigabytes (VGG16 in artifacts and in the DVC cache): never keep it
        for folder in (tmp_path / pipeline, tmp_path / f"{pipeline}-standins"):
            shutil.rmtree(folder, ignore_errors=True)


def _check(pipeline: str, tmp_path: Path) -> dict:
    [result] = run([pipeline], ROOT, keep=str(tmp_path), timeout=1200)
    assert result.ok, format_results([result]) + (tmp_path / pipeline / "course-check.log").read_text()[-4000:]
    assert sorted(result.stages) == sorted(result.expected)
    params = flatten(yaml.safe_load((tmp_path / pipeline / "params.yaml").read_text()))
    course = flatten(load_profile("course", ROOT))
    involved = {s.split("-", 1)[0] for s in result.expected}
    declared = set()
    for name in involved:
        module = check_module(name)
        declared |= set(getattr(module, "CAPS", {})) if module else set()
    kept = {k: v for k, v in course.items() if k.split(".", 1)[0] in involved and not k.endswith((".url", ".sha256", ".md5"))
            and k not in declared}
    changed = {k: (v, params.get(k)) for k, v in kept.items() if params.get(k) != (list(v) if isinstance(v, tuple) else v)}
    assert not changed, f"the check changed course values it does not declare: {changed}"
    return params
