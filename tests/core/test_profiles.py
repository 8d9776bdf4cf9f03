"""Profiles (profiles/*.yaml) applied to params.yaml: each validates, default switches back byte for
byte, only the profile's values change, and a bad profile writes nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines import profiles
from pipelines.cli import main
from stages.core.errors import ParamsError
from stages.core.params import SECTIONS, parse_params, schema, validate_section

ROOT = Path(__file__).resolve().parents[2]
PARAMS_TEXT = (ROOT / "params.yaml").read_text()
NAMES = profiles.available(ROOT)
PIPELINES = ["tabular", "image", "audio", "gan", "anomaly"]


def applied(name: str, pipelines: list[str] | None = None) -> dict:
    return parse_params(profiles.render(PARAMS_TEXT, name, pipelines, ROOT))


def copy_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    return tmp_path


def test_the_profiles_are_there():
    assert {"course", "smoke", "default"} <= set(NAMES)


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("name", NAMES)
def test_every_profile_applied_to_params_yaml_validates(name, section):
    validate_section(applied(name), section, schema(section), "params.yaml")


@pytest.mark.parametrize("name", NAMES)
def test_what_is_written_is_what_the_profile_says(name):
    # the text written, parsed as DVC and the stages parse it, equals params.yaml with the profile's values set
    expected = profiles.apply_overrides(parse_params(PARAMS_TEXT), profiles.overrides(name, root=ROOT))
    assert applied(name) == expected


def test_default_is_what_params_yaml_holds():
    assert profiles.render(PARAMS_TEXT, "default", root=ROOT) == PARAMS_TEXT


@pytest.mark.parametrize("name", [n for n in NAMES if n != "default"])
def test_default_switches_every_key_of_every_profile_back(name):
    assert set(profiles.overrides(name, root=ROOT)) <= set(profiles.overrides("default", root=ROOT))
    there = profiles.render(PARAMS_TEXT, name, root=ROOT)
    assert profiles.render(there, "default", root=ROOT) == PARAMS_TEXT  # byte for byte


@pytest.mark.parametrize("name", [n for n in NAMES if n != "default"])
def test_only_the_changed_values_change_comments_and_order_stay(name):
    new = profiles.render(PARAMS_TEXT, name, root=ROOT)
    old_lines, new_lines = PARAMS_TEXT.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    differ = {k for k, v in profiles.overrides(name, root=ROOT).items()
              if v != profiles.overrides("default", root=ROOT)[k]}
    assert len(changed) == len(differ) > 0
    for a, b in changed:  # same key, same comment: only the value differs
        assert a.split(":")[0] == b.split(":")[0]
        assert a.partition("#")[2] == b.partition("#")[2]


def test_course_sources_that_need_the_network_are_url_with_checksum():
    course = profiles.overrides("course", root=ROOT)
    assert course["tabular.download.source"] == "url" and len(course["tabular.download.sha256"]) == 64
    assert course["gan.digits.source"] == "url"
    assert len(course["gan.digits.images.sha256"]) == len(course["gan.digits.labels.sha256"]) == 64


def test_a_pipeline_limits_the_profile_to_its_section():
    only_gan = applied("course", ["gan"])
    base = parse_params(PARAMS_TEXT)
    assert only_gan["gan"] == applied("course")["gan"] != base["gan"]
    assert {k: v for k, v in only_gan.items() if k != "gan"} == {k: v for k, v in base.items() if k != "gan"}


def test_smoke_settings_come_from_the_profile():
    from tests.audio.test_e2e import SMOKE as AUDIO_SMOKE
    from tests.diffusion.smoke import SMOKE as DIFFUSION_SMOKE
    from tests.gan.smoke import SMOKE as GAN_SMOKE
    from tests.nlp.smoke import SMOKE as NLP_SMOKE
    from tests.transfer.smoke import SMOKE as TRANSFER_SMOKE
    from tests.vit.test_e2e import SMOKE as VIT_SMOKE

    smoke = profiles.overrides("smoke", root=ROOT)
    assert {**GAN_SMOKE, **AUDIO_SMOKE, **NLP_SMOKE, **VIT_SMOKE, **TRANSFER_SMOKE, **DIFFUSION_SMOKE} == smoke


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
    assert sorted(p.name for p in root.iterdir()) == ["params.yaml", "profiles"]  # no temp file left


@pytest.mark.e2e
def test_dvc_params_diff_shows_exactly_what_the_profile_changed(temp_repo):
    repo = temp_repo
    repo.python("-m", "pipelines", "profile", "apply", "course", "gan")
    changed = json.loads(repo.dvc("params", "diff", "--json").stdout)["params.yaml"]
    course, default = profiles.overrides("course", ["gan"], ROOT), profiles.overrides("default", ["gan"], ROOT)
    assert set(changed) == {k for k, v in course.items() if v != default[k]}
    for key, values in changed.items():  # DVC prints lists as strings and adds `diff` to numbers
        assert (values["old"], values["new"]) in [(default[key], course[key]), (str(default[key]), str(course[key]))]
    assert repo.run("git", "diff", "--name-only").stdout.split() == ["params.yaml"]
