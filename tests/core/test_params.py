from pathlib import Path

import pytest
import yaml

from stages.core.errors import ParamsError
from stages.core.params import CommonParams, Params, SourceParams, validate_section, read_params_file
from stages.tabular.params import TabularParams

ROOT = Path(__file__).resolve().parents[2]


class Small(Params):
    C: float
    kernel: str


def test_valid_section_loads():
    p = validate_section({"train": {"C": 2, "kernel": "rbf"}}, "train", Small)
    assert p.C == 2.0 and p.kernel == "rbf"


def test_wrong_type_names_the_key_path():
    with pytest.raises(ParamsError, match=r"train\.C: Input should be a valid number"):
        validate_section({"train": {"C": "abc", "kernel": "rbf"}}, "train", Small)


def test_unknown_key_is_a_typo_error():
    with pytest.raises(ParamsError, match=r"train\.kernal: .*unknown key"):
        validate_section({"train": {"C": 1, "kernel": "rbf", "kernal": "x"}}, "train", Small)


def test_missing_key_and_missing_section():
    with pytest.raises(ParamsError, match=r"train\.kernel: Field required"):
        validate_section({"train": {"C": 1}}, "train", Small)
    with pytest.raises(ParamsError, match="section 'train' is missing"):
        validate_section({}, "train", Small)


def test_url_source_needs_a_checksum():
    assert SourceParams(source="embedded").source == "embedded"
    with pytest.raises(ValueError, match="sha256"):
        SourceParams(source="url", url="http://x/y.csv", sha256="nothex")
    with pytest.raises(ValueError, match="path"):
        SourceParams(source="path")


def test_project_params_file_validates():
    data = read_params_file(ROOT / "params.yaml")
    validate_section(data, "tabular", TabularParams)
    validate_section(data, "common", CommonParams)


def test_bad_yaml_is_reported(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("tabular: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        read_params_file(bad)
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ParamsError, match="mapping"):
        read_params_file(bad)
