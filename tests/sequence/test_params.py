import copy
from pathlib import Path

import pytest

from stages.core.errors import ParamsError
from stages.core.params import parse_params, validate_section
from stages.sequence.params import SequenceParams

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
    section = validate_section(_with("sequence.memory.seeds", 3), "sequence", SequenceParams)
    assert section.memory.cells == ["rnn", "lstm", "gru"] and section.bptt.addition.bits == 8


@pytest.mark.parametrize("key, bad", [("sequence.memory.cells", ["lstm", "lstm"]), ("sequence.memory.cells", ["transformer"]),
                                      ("sequence.bptt.through_time.singular_values", [0.0]),
                                      ("sequence.memory.steps", 1), ("sequence.bptt.addition.clip", 0)])
def test_a_bad_value_is_one_line_naming_the_key(key, bad):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as err:
        validate_section(_with(key, bad), "sequence", SequenceParams)
    assert "\n" not in str(err.value)
