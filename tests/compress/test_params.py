import copy
from pathlib import Path

import pytest

from stages.compress.params import CompressParams
from stages.core.errors import ParamsError
from stages.core.params import parse_params, validate_section

ROOT = Path(__file__).resolve().parents[2]


def _with(dotted: str, value):
    data = copy.deepcopy(parse_params((ROOT / "params.yaml").read_text()))
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[leaf] = value
    return data


def test_the_committed_section_validates():
    section = validate_section(_with("compress.evaluate.resamples", 2000), "compress", CompressParams)
    assert section.prune.sparsities == [0.5, 0.8, 0.9, 0.95] and section.teacher.net.arch == "cnn"


@pytest.mark.parametrize("bad", [[0.5, 1.0], [-0.1], [0.9, 0.9]])
def test_a_sparsity_outside_zero_one_or_repeated_is_one_line_naming_the_key(bad):
    with pytest.raises(ParamsError, match=r"compress\.prune\.sparsities") as err:
        validate_section(_with("compress.prune.sparsities", bad), "compress", CompressParams)
    assert "\n" not in str(err.value)


def test_channels_and_arch_are_checked():
    with pytest.raises(ParamsError, match=r"compress\.students\.net\.channels"):
        validate_section(_with("compress.students.net.channels", [16, 0, 8]), "compress", CompressParams)
    with pytest.raises(ParamsError, match=r"compress\.teacher\.net\.arch"):
        validate_section(_with("compress.teacher.net.arch", "vgg16"), "compress", CompressParams)
