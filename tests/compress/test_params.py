import pytest

from stages.compress.params import CompressParams
from stages.core.errors import ParamsError
from stages.core.params import validate_section
from tests.conftest import committed_params_with


def test_the_committed_section_validates():
    section = validate_section(committed_params_with("compress.evaluate.resamples", 2000), "compress", CompressParams)
    assert section.prune.sparsities == [0.5, 0.8, 0.9, 0.95] and section.teacher.net.arch == "cnn"


@pytest.mark.parametrize("bad", [[0.5, 1.0], [-0.1], [0.9, 0.9]])
def test_a_sparsity_outside_zero_one_or_repeated_is_one_line_naming_the_key(bad):
    with pytest.raises(ParamsError, match=r"compress\.prune\.sparsities") as err:
        validate_section(committed_params_with("compress.prune.sparsities", bad), "compress", CompressParams)
    assert "\n" not in str(err.value)


def test_channels_and_arch_are_checked():
    with pytest.raises(ParamsError, match=r"compress\.students\.net\.channels"):
        validate_section(committed_params_with("compress.students.net.channels", [16, 0, 8]), "compress", CompressParams)
    with pytest.raises(ParamsError, match=r"compress\.teacher\.net\.arch"):
        validate_section(committed_params_with("compress.teacher.net.arch", "vgg16"), "compress", CompressParams)
