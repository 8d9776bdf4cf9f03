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


WRITER = """
import sys, time
from pathlib import Path
from stages.core.io import atomic_outputs

root = Path(sys.argv[1])
with atomic_outputs() as out:
    folder = out.dir(root / "effects")
    (folder / "a.wav").write_bytes(b"x" * 1000)
    out.json(root / "summary.json", {"half": "written"})
    print("writing", flush=True)
    time.sleep(60)  # killed here, mid-write
"""


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_killed_stage_leaves_no_temporary_after_the_next_run(tmp_path):
    """kill -9 a writer mid-stage (no rollback can run); the next run of the same outputs cleans up."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _temporaries(tmp_path) == [f".effects.tmp{proc.pid}", f".summary.json.tmp{proc.pid}.json"]  # what it left

    with atomic_outputs() as out:
        (out.dir(tmp_path / "effects") / "a.wav").write_bytes(b"y")
        out.json(tmp_path / "summary.json", {"done": True})
    assert _temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["effects", "summary.json"]


def test_a_running_writers_temporary_is_kept(tmp_path):
    """Two runs of one stage at once (outside DVC's lock): neither deletes the other's temporary."""
    import subprocess

    from stages.core.io import remove_stale_temporaries, temporary_name

    alive = subprocess.Popen(["sleep", "30"])
    try:
        theirs = temporary_name(tmp_path / "m.json", pid=alive.pid)
        theirs.write_text("{}")
        assert remove_stale_temporaries(tmp_path / "m.json") == []
        with atomic_outputs() as out:
            out.json(tmp_path / "m.json", {"x": 1})
        assert theirs.exists()
    finally:
        alive.kill()
        alive.wait()
    assert remove_stale_temporaries(tmp_path / "m.json") == [theirs]
