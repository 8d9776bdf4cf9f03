import pytest

from stages.core.errors import ParamsError
from stages.core.params import validate_section
from stages.sequence.params import SequenceParams
from tests.conftest import committed_params_with


def test_the_committed_section_validates():
    section = validate_section(committed_params_with("sequence.memory.seeds", 3), "sequence", SequenceParams)
    assert section.memory.cells == ["rnn", "lstm", "gru"] and section.bptt.addition.bits == 8


@pytest.mark.parametrize("key, bad", [("sequence.memory.cells", ["lstm", "lstm"]), ("sequence.memory.cells", ["transformer"]),
                                      ("sequence.bptt.through_time.singular_values", [0.0]),
                                      ("sequence.memory.steps", 1), ("sequence.bptt.addition.clip", 0)])
def test_a_bad_value_is_one_line_naming_the_key(key, bad):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as err:
        validate_section(committed_params_with(key, bad), "sequence", SequenceParams)
    assert "\n" not in str(err.value)
