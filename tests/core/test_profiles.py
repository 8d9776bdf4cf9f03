"""Profiles (profiles/*.yaml, and ``default`` derived from params.yaml as committed) applied to params.yaml:
each validates, default switches back byte for byte, only the profile's values change, and a bad profile
writes nothing."""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines import profiles
from pipelines.cli import main
from stages.core.errors import ParamsError
from stages.core.params import SECTIONS, parse_params, schema, validate_section

ROOT = Path(__file__).resolve().parents[2]
PARAMS_TEXT = (ROOT / "params.yaml").read_text()
NAMES = profiles.available(ROOT)


def copy_project(tmp_path: Path) -> Path:
    """params.yaml and profiles/ as they are in the working tree, committed in a fresh git repository
    (the default profile is params.yaml as committed: an uncommitted edit in this checkout must not count)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "params"]):
        subprocess.run([*git, *cmd], cwd=tmp_path, check=True)
    return tmp_path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("profiles"))


def applied(root: Path, name: str, pipelines: list[str] | None = None) -> dict:
    return parse_params(rendered(root, name, tuple(pipelines or ())))


@functools.cache  # 36 parametrized tests read the same three texts
def rendered(root: Path, name: str, pipelines: tuple[str, ...]) -> str:
    return profiles.render(PARAMS_TEXT, name, list(pipelines) or None, root)


def test_the_profiles_are_there():
    assert {"course", "smoke", "default"} <= set(NAMES)
    assert not (ROOT / "profiles/default.yaml").exists()  # derived, not copied


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("name", NAMES)
def test_every_profile_applied_to_params_yaml_validates(project, name, section):
    validate_section(applied(project, name), section, schema(section), "params.yaml")


@pytest.mark.parametrize("name", NAMES)
def test_what_is_written_is_what_the_profile_says(project, name):
    # the text written, parsed as DVC and the stages parse it, equals params.yaml with the profile's values set
    expected = profiles.apply_overrides(parse_params(PARAMS_TEXT), profiles.overrides(name, root=project))
    assert applied(project, name) == expected


def test_default_is_what_params_yaml_holds(project):
    assert profiles.render(PARAMS_TEXT, "default", root=project) == PARAMS_TEXT


@pytest.mark.parametrize("name", [n for n in NAMES if n != "default"])
def test_default_switches_every_key_of_every_profile_back(project, name):
    assert set(profiles.overrides(name, root=project)) <= set(profiles.overrides("default", root=project))
    there = profiles.render(PARAMS_TEXT, name, root=project)
    assert profiles.render(there, "default", root=project) == PARAMS_TEXT  # byte for byte


def test_default_is_the_committed_value_not_the_working_one(tmp_path):
    root = copy_project(tmp_path)
    edited = profiles.set_values(PARAMS_TEXT, {"gan.dcgan.epochs": 7, "tabular.train.C": 3.0})
    (root / "params.yaml").write_text(edited)
    assert profiles.overrides("default", ["gan"], root)["gan.dcgan.epochs"] == parse_params(PARAMS_TEXT)["gan"]["dcgan"]["epochs"]
    profiles.apply("default", ["gan"], root)
    back = parse_params((root / "params.yaml").read_text())
    assert back["gan"] == parse_params(PARAMS_TEXT)["gan"]
    assert back["tabular"]["train"]["C"] == 3.0  # no profile sets it: the edit stays


def test_default_without_git_or_with_an_uncommitted_key_is_one_clear_error(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    with pytest.raises(profiles.ProfileError, match=r"^profile 'default' is params\.yaml as committed in git \(HEAD\)"):
        profiles.overrides("default", root=tmp_path)
    root = copy_project(tmp_path / "repo")
    (root / "profiles/mine.yaml").write_text("gan:\n  dcgan:\n    epochz: 3\n")
    with pytest.raises(profiles.ProfileError, match=r"committed \(HEAD\) has no gan\.dcgan\.epochz, which "
                                                  r"profiles/mine\.yaml sets: commit params\.yaml first"):
        profiles.overrides("default", root=root)
    (root / "profiles/mine.yaml").unlink()
    (root / "profiles/default.yaml").write_text("gan: {}\n")
    with pytest.raises(profiles.ProfileError, match=r"derived from params\.yaml as committed .*delete this file"):
        profiles.profile_path("default", root)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "default"])
def test_only_the_changed_values_change_comments_and_order_stay(project, name):
    new = profiles.render(PARAMS_TEXT, name, root=project)
    old_lines, new_lines = PARAMS_TEXT.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    default = profiles.overrides("default", root=project)
    differ = {k for k, v in profiles.overrides(name, root=project).items() if v != default[k]}
    assert len(changed) == len(differ) > 0
    for a, b in changed:  # same key, same comment: only the value differs
        assert a.split(":")[0] == b.split(":")[0]
        assert a.partition("#")[2] == b.partition("#")[2]


def test_course_sources_that_need_the_network_are_url_with_checksum():
    course = profiles.overrides("course", root=ROOT)
    assert course["tabular.download.source"] == "url" and len(course["tabular.download.sha256"]) == 64
    assert course["gan.digits.source"] == "url"
    assert len(course["gan.digits.images.sha256"]) == len(course["gan.digits.labels.sha256"]) == 64


def test_a_pipeline_limits_the_profile_to_its_section(project):
    only_gan = applied(project, "course", ["gan"])
    base = parse_params(PARAMS_TEXT)
    assert only_gan["gan"] == applied(project, "course")["gan"] != base["gan"]
    assert {k: v for k, v in only_gan.items() if k != "gan"} == {k: v for k, v in base.items() if k != "gan"}


def test_smoke_settings_come_from_the_profile():
    """Every pipeline's tests take their smoke values from profiles/smoke.yaml (a ``SMOKE`` in
    ``tests/<p>/smoke.py`` or ``test_e2e.py``, found by convention), and together they are the profile."""
    import importlib

    found: dict = {}
    for folder in sorted(p for p in (ROOT / "tests").iterdir() if p.is_dir()):
        for module in ("smoke", "test_e2e"):
            if (folder / f"{module}.py").is_file():
                found.update(getattr(importlib.import_module(f"tests.{folder.name}.{module}"), "SMOKE", {}))
    assert found == profiles.overrides("smoke", root=ROOT)


def test_apply_and_show_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(copy_project(tmp_path))
    assert main(["profile", "show", "course", "gan"]) == 0
    assert (tmp_path / "params.yaml").read_text() == PARAMS_TEXT  # show writes nothing
    assert "+    epochs: 200" in capsys.readouterr().out
    assert main(["profile", "apply", "course", "gan"]) == 0
    assert parse_params((tmp_path / "params.yaml").read_text())["gan"]["dcgan"]["epochs"] == 200
    assert main(["profile", "apply", "default", "gan"]) == 0
    assert (tmp_path / "params.yaml").read_text() == PARAMS_TEXT
    assert main(["profile", "apply", "nosuch"]) == 2
    assert "no profile 'nosuch'" in capsys.readouterr().err
    assert main(["profile", "list"]) == 0
    assert "default    params.yaml's committed value" in capsys.readouterr().out


def test_a_profile_that_adds_a_key_or_breaks_a_value_writes_nothing(tmp_path):
    root = copy_project(tmp_path)
    (root / "profiles/typo.yaml").write_text("gan:\n  dcgan:\n    epoch: 3\n")
    with pytest.raises(profiles.ProfileError, match=r"gan\.dcgan\.epoch: params\.yaml has no such key"):
        profiles.apply("typo", root=root)
    (root / "profiles/bad.yaml").write_text("gan:\n  dcgan:\n    lr:\n      g: .inf\n")
    with pytest.raises(ParamsError, match=r"^params\.yaml: gan\.dcgan\.lr\.g: Input should be a finite number \(got inf\)$"):
        profiles.apply("bad", root=root)
    (root / "profiles/section.yaml").write_text("foo:\n  bar: 1\n")
    with pytest.raises(profiles.ProfileError, match=r"unknown section\(s\): foo"):
        profiles.apply("section", root=root)
    with pytest.raises(profiles.ProfileError, match=r"unknown pipeline\(s\): gann"):
        profiles.apply("course", ["gann"], root=root)
    assert (root / "params.yaml").read_text() == PARAMS_TEXT
    assert sorted(p.name for p in root.iterdir()) == [".git", "params.yaml", "profiles"]  # no temp file left


@pytest.mark.e2e
def test_dvc_params_diff_shows_exactly_what_the_profile_changed(temp_repo):
    repo = temp_repo
    repo.python("-m", "pipelines", "profile", "apply", "course", "gan")
    changed = json.loads(repo.dvc("params", "diff", "--json").stdout)["params.yaml"]
    course, default = profiles.overrides("course", ["gan"], repo.path), profiles.overrides("default", ["gan"], repo.path)
    assert set(changed) == {k for k, v in course.items() if v != default[k]}
    for key, values in changed.items():  # DVC prints lists as strings and adds `diff` to numbers
        assert (values["old"], values["new"]) in [(default[key], course[key]), (str(default[key]), str(course[key]))]
    assert repo.run("git", "diff", "--name-only").stdout.split() == ["params.yaml"]
