import pytest

from stages.core.errors import DataError, IntegrityError
from stages.core.io import atomic_outputs, load_pickle, read_json


def test_outputs_appear_only_on_success(tmp_path):
    with atomic_outputs() as out:
        out.json(tmp_path / "a" / "m.json", {"x": 1})
        d = out.dir(tmp_path / "folder")
        (d / "f.txt").write_text("hi")
        assert not (tmp_path / "a" / "m.json").exists()  # not yet renamed
    assert read_json(tmp_path / "a" / "m.json") == {"x": 1}
    assert (tmp_path / "folder" / "f.txt").read_text() == "hi"


def test_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_outputs() as out:
            out.json(tmp_path / "m.json", {"x": 1})
            out.dir(tmp_path / "folder")
            raise RuntimeError("stage failed half-way")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_output_intact(tmp_path):
    (tmp_path / "m.json").write_text('{"old": true}')
    with pytest.raises(ValueError):
        with atomic_outputs() as out:
            out.text(tmp_path / "m.json", "half")
            raise ValueError
    assert read_json(tmp_path / "m.json") == {"old": True}


def test_pickle_round_trip_and_swap_refused(tmp_path):
    with atomic_outputs() as out:
        out.pickle(tmp_path / "a.pkl", {"a": 1})
        out.pickle(tmp_path / "b.pkl", {"b": 2})
    assert load_pickle(tmp_path / "a.pkl") == {"a": 1}
    (tmp_path / "a.pkl").write_bytes((tmp_path / "b.pkl").read_bytes())  # swap content
    with pytest.raises(IntegrityError, match="a.pkl: refusing to unpickle"):
        load_pickle(tmp_path / "a.pkl")
    (tmp_path / "b.pkl.sha256").unlink()
    with pytest.raises(IntegrityError, match="no recorded hash"):
        load_pickle(tmp_path / "b.pkl")


def test_missing_and_empty_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match="nope.json: input not found"):
        read_json(tmp_path / "nope.json")
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(DataError, match="empty.json: input is empty"):
        read_json(tmp_path / "empty.json")


def test_pickle_returns_what_was_written(tmp_path):
    obj = {"scale_": 2.0}
    with atomic_outputs() as out:
        saved = out.pickle(tmp_path / "f.pkl", obj)
        obj["scale_"] = 99.0  # later changes to the in-memory object do not reach the saved one
    assert saved is not obj and saved["scale_"] == 2.0
    assert load_pickle(tmp_path / "f.pkl")["scale_"] == 2.0
