import copy
from pathlib import Path

import pytest
import yaml

from stages.core.errors import ParamsError
from stages.core.params import (SECTIONS, CommonParams, Params, SourceParams, load_section, parse_params,
                                read_params_file, schema, validate_all, validate_section)
from stages.tabular.params import TabularParams

ROOT = Path(__file__).resolve().parents[2]
REAL = read_params_file(ROOT / "params.yaml")


def with_value(dotted: str, value) -> dict:
    """A copy of the real params.yaml with one value set (or added)."""
    data = copy.deepcopy(REAL)
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    return data


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


def test_url_source_takes_an_md5_instead():
    src = SourceParams(source="url", url="http://x/a.tar.gz", md5="7c2ac02c03563afcf9b574c7e56c153a")
    assert src.checksum == "md5:7c2ac02c03563afcf9b574c7e56c153a"
    assert SourceParams(source="url", url="http://x/y", sha256="a" * 64).checksum == "sha256:" + "a" * 64
    with pytest.raises(ValueError, match="not both"):
        SourceParams(source="url", url="http://x/y", sha256="a" * 64, md5="b" * 32)
    with pytest.raises(ValueError, match="md5 is not a 32-digit"):
        SourceParams(source="url", url="http://x/y", md5="xyz")


def test_project_params_file_validates():
    validate_section(REAL, "tabular", TabularParams)
    validate_section(REAL, "common", CommonParams)


def test_registry_covers_every_section_of_the_real_file():
    assert sorted(REAL) == sorted(SECTIONS)


def test_a_pipelines_section_is_found_by_its_folder(tmp_path):
    """stages/<name>/params.py registers the `<name>:` section, its model named <Name>Params; nothing else does."""
    from stages.core.params import model_name, pipeline_sections

    for name, text in (("style_transfer", ""), ("core", ""), ("params", None), ("notes", None)):
        (tmp_path / name).mkdir()
        if text is not None:
            (tmp_path / name / "params.py").write_text(text)
    assert pipeline_sections(tmp_path) == {"style_transfer": "stages.style_transfer.params:StyleTransferParams"}
    assert model_name("gan") == "GanParams"
    assert {s: t for s, t in SECTIONS.items() if t.startswith("stages.") and s != "common"} == pipeline_sections()


def test_a_params_module_without_its_model_is_one_clear_error(monkeypatch):
    from stages.core import params

    monkeypatch.setitem(params.SECTIONS, "tabular", "stages.tabular.params:TabluarParams")
    with pytest.raises(ParamsError, match=r"^stages/tabular/params\.py: defines no model TabluarParams \(the schema "
                                          r"of the 'tabular:' section of params\.yaml is found by that name\)$"):
        params.schema("tabular")


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_section_of_the_real_params_validates(section):
    model = validate_section(REAL, section, schema(section), ROOT / "params.yaml")
    assert isinstance(model, Params)


def test_validate_all_returns_every_section():
    assert set(validate_all(REAL)) == set(SECTIONS)


@pytest.mark.parametrize("section", ["tabular", "gan", "common"])
def test_unknown_top_level_section_is_an_error_naming_it(section):
    data = {**REAL, "foo": {"bar": 1}}
    with pytest.raises(ParamsError, match=r"^params\.yaml: foo: unknown section \(known: common, orchestration, "):
        validate_section(data, section, schema(section), "params.yaml")


def test_unknown_sub_section_is_an_error_naming_it():
    with pytest.raises(ParamsError, match=r"params\.yaml: gan\.foo: Extra inputs are not permitted \(unknown key"):
        validate_section(with_value("gan.foo", {"epochs": 1}), "gan", schema("gan"), "params.yaml")
    with pytest.raises(ParamsError, match=r"gan\.foo"):
        validate_all(with_value("gan.foo", {"epochs": 1}), "params.yaml")


def test_loading_any_section_checks_the_whole_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text() + "\nfoo:\n  bar: 1\n")
    with pytest.raises(ParamsError, match=f"^{path}: foo: unknown section"):
        load_section("tabular", TabularParams, path)


@pytest.mark.parametrize("dotted", ["gan.digits.size", "tabular.train.nfiles", "size", "retrain.gate.0.size",
                                    "tabular.scale.override.size"])
def test_keys_dvc_ignores_are_refused_anywhere(dotted):
    data = with_value(dotted, 16)
    with pytest.raises(ParamsError) as err:
        validate_section(data, "tabular", TabularParams, "params.yaml")
    line = next(x for x in str(err.value).splitlines() if f": {dotted}: a param" in x)
    leaf = dotted.rsplit(".", 1)[-1]
    assert line == (f"params.yaml: {dotted}: a param may not be named '{leaf}': DVC's run-cache ignores keys named "
                    "size or nfiles (treeverse/dvc#10296), so changing it would restore stale outputs; rename it")


def test_keys_dvc_ignores_are_refused_in_unregistered_sections_too():
    with pytest.raises(ParamsError, match=r"train\.size: a param may not be named 'size'"):
        validate_section({"train": {"C": 1, "kernel": "rbf", "size": 3}}, "train", Small)


# Item by item, the values that once passed the params boundary (NaN trained to NaN losses with exit
# 0, `true` trained one epoch, sizes exhausted memory, -1 reached sklearn as a traceback).
BAD_VALUES = [
    ("gan.dcgan.lr.g", float("inf"), "Input should be a finite number"),
    ("gan.dcgan.lr.d", float("nan"), "Input should be a finite number"),
    ("vit.train.lr", float("inf"), "Input should be a finite number"),
    ("gan.dcgan.epochs", True, "Input should be a valid integer"),
    ("gan.sagan.epochs", 1.0, "Input should be a valid integer"),
    ("gan.dcgan.channels", 100000, "less than or equal to 128"),
    ("gan.dcgan.betas", [0.5, float("nan")], "finite number"),
    ("gan.dcgan.precision", "yes", "Input should be 'fp32', 'fp16' or 'bf16'"),
    ("image.transforms.scales", [200], "less than or equal to 4"),
    ("image.transforms.scales", [0.0001], "greater than or equal to 0.01"),
    ("image.transforms.angle", float("nan"), "Input should be a finite number"),
    ("image.transforms.angle", float("inf"), "Input should be a finite number"),
    ("image.ycbcr.coefficients", [[0.299, 0.587, float("nan")], [0, 0, 1], [0, 1, 0]], "finite number"),
    ("audio.features.n_fft", 100000000, "less than or equal to 65536"),
    ("audio.features.n_fft", 1e8, "Input should be a valid integer"),
    ("audio.features.hop_length", 1, "hop_length must be from n_fft/16 to n_fft (128..2048; got 1)"),
    ("audio.effects.stretch_rates", [0.0001], "greater than or equal to 0.25"),
    ("audio.effects.pitch_steps", [1000], "less than or equal to 24"),
    ("audio.embedded_typo", 1, "unknown key"),
    ("tabular.train.gamma", -1.0, "must be 'scale', 'auto' or a finite number > 0"),
    ("tabular.train.gamma", True, "must be 'scale', 'auto' or a finite number > 0"),
    ("tabular.train.C", "1.5", "Input should be a valid number"),
    ("tabular.train.C", float("inf"), "finite number"),
    ("anomaly.efficientgan.channels", 512, "less than or equal to 64"),
    ("anomaly.anogan.steps", True, "Input should be a valid integer"),
    ("common.seed", -1, "greater than or equal to 0"),
    ("orchestration.retries", True, "Input should be a valid integer"),
    ("retrain.gate.0.max_drop", float("nan"), "finite number"),
]


@pytest.mark.parametrize("dotted, value, message", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_bad_values_stop_at_the_params_boundary_with_the_key_path(dotted, value, message):
    section = dotted.split(".")[0]
    with pytest.raises(ParamsError) as err:
        validate_section(with_value(dotted, value), section, schema(section), "params.yaml")
    lines = str(err.value).splitlines()
    where = "audio.features" if dotted.endswith("hop_length") else dotted  # a cross-field check names its section
    assert len(lines) == 1, lines  # one line per problem, one problem here
    assert lines[0].startswith(f"params.yaml: {where}") and message in lines[0], lines  # scales.0: the list item


def test_sagan_attention_maps_must_fit_in_memory():
    data = with_value("gan.digits.image_px", 128)
    data["gan"]["sagan"]["batch_size"] = 64
    with pytest.raises(ParamsError, match=r"^params\.yaml: gan: Value error, sagan\.batch_size 64 at digits\.image_px 128 "
                                          r"needs about \d+ GiB for the attention maps \(limit 8 GiB\)"):
        validate_section(data, "gan", schema("gan"), "params.yaml")
    data["gan"]["sagan"]["batch_size"] = 16
    validate_section(data, "gan", schema("gan"), "params.yaml")


def test_messages_show_the_offending_value():
    with pytest.raises(ParamsError) as err:
        validate_section(with_value("gan.dcgan.lr.g", float("inf")), "gan", schema("gan"), "params.yaml")
    assert str(err.value) == "params.yaml: gan.dcgan.lr.g: Input should be a finite number (got inf)"


def test_params_are_parsed_as_dvc_parses_them():
    # YAML 1.2 (DVC's ruamel): 1e-4 is a float and `on` a string; PyYAML (1.1) says '1e-4' and True
    assert parse_params("a: 1e-4\nb: on\nc: .nan\n") == {"a": 1e-4, "b": "on", "c": pytest.approx(float("nan"), nan_ok=True)}


def test_an_int_is_a_float_but_a_bool_is_no_number():
    assert validate_section({"train": {"C": 2, "kernel": "rbf"}}, "train", Small).C == 2.0
    with pytest.raises(ParamsError, match=r"train\.C: Input should be a valid number \(got True\)"):
        validate_section({"train": {"C": True, "kernel": "rbf"}}, "train", Small)


def test_bad_yaml_is_reported(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("tabular: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        read_params_file(bad)
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ParamsError, match="mapping"):
        read_params_file(bad)


def digits_side(repo) -> int:
    import numpy as np

    with np.load(repo.path / "data/gan/digits/train.npz") as z:
        return z["images"].shape[-1]


@pytest.mark.e2e
@pytest.mark.pipelines("gan-digits")
def test_changing_the_image_side_really_reruns_gan_digits(temp_repo):
    """DVC's run-cache ignored the old `gan.digits.size` (treeverse/dvc#10296): 16 -> 32 restored the 16-px
    outputs from the run-cache. The renamed param is hashed, so the stage runs and writes 32 px."""
    repo = temp_repo
    assert repo.ran_stages(repo.dvc("repro", "gan-digits")) == ["gan-digits"]
    assert digits_side(repo) == 16
    repo.set_param("gan.digits.image_px", 32)
    proc = repo.dvc("repro", "gan-digits")
    assert repo.ran_stages(proc) == ["gan-digits"] and "is cached" not in proc.stdout
    assert digits_side(repo) == 32
    repo.set_param("gan.digits.image_px", 16)  # back: the run-cache restores the 16-px run, rightly
    proc = repo.dvc("repro", "gan-digits")
    assert "Stage 'gan-digits' is cached" in proc.stdout and digits_side(repo) == 16
    assert repo.dvc("status", "gan-digits").stdout.strip().endswith("up to date.")


@pytest.mark.parametrize("section, old, value, new", [("gan.dcgan", "amp", True, "precision: fp32 | fp16 | bf16"),
                                                      ("nlp.train", "amp", False, "precision: fp32 | fp16 | bf16"),
                                                      ("diffusion.train", "grad_clip", 1.0, "clip_grad_norm")])
def test_a_recipe_key_that_was_renamed_gets_one_line_naming_its_replacement(section, old, value, new):
    top = section.split(".")[0]
    with pytest.raises(ParamsError) as err:
        validate_section(with_value(f"{section}.{old}", value), top, schema(top), "params.yaml")
    assert str(err.value) == f"params.yaml: {section}: Value error, '{old}' was replaced by '{new}" + (
        " (amp: true is precision: fp16)'" if old == "amp" else "'")


def test_a_per_network_lr_must_name_the_networks_the_stage_trains():
    with pytest.raises(ParamsError, match=r"^params\.yaml: gan\.dcgan: Value error, lr names the networks g; this stage trains g, d"):
        validate_section(with_value("gan.dcgan.lr", {"g": 1e-3}), "gan", schema("gan"), "params.yaml")
