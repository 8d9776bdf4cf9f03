"""Checked decoding: every bad file is a DataError naming it; good files decode as librosa.load does."""
from __future__ import annotations

import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest

from stages.audio.clips import clip_key, decode, power_db, read_manifest, resample
from stages.core.errors import DataError
from tests.audio.helpers import SR, tone, truncate, write


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_decode_each_format(tmp_path: Path, fmt: str):
    path = write(tmp_path / f"a.{fmt}", tone(1.0))
    y, sr, channels = decode(path)
    assert (sr, channels, y.dtype) == (SR, 1, np.float32)
    assert abs(len(y) - SR) < SR * 0.2  # mp3/ogg pad or trim a little


def test_decode_stereo_is_averaged(tmp_path: Path):
    left, right = tone(0.2), np.zeros(int(0.2 * SR), np.float32)
    y, _, channels = decode(write(tmp_path / "s.wav", np.stack([left, right], axis=1), subtype="FLOAT"))
    assert channels == 2
    np.testing.assert_allclose(y, left / 2, atol=1e-7)


def test_decode_matches_librosa_load(shared_data: Path):
    path = shared_data / "audio" / "robin-whistle-456440.ogg"
    y, sr, _ = decode(path)
    ref, ref_sr = librosa.load(path, sr=None)
    assert sr == ref_sr and np.array_equal(y, ref)
    ref8, _ = librosa.load(path, sr=8000)
    assert np.array_equal(resample(y, sr, 8000), ref8)
    assert resample(y, sr, None) is y


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_truncated_file_is_refused(tmp_path: Path, fmt: str):
    path = truncate(write(tmp_path / f"cut.{fmt}", tone(2.0)))
    with pytest.raises(DataError, match=r"cut\.%s" % fmt):
        decode(path)


def test_empty_file_is_refused(tmp_path: Path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.wav: empty file"):
        decode(tmp_path / "empty.wav")


@pytest.mark.parametrize("name", ["voice.m4a", "notes.txt", "noext"])
def test_unsupported_format_is_refused(tmp_path: Path, name: str):
    (tmp_path / name).write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match=rf"{name}: unsupported audio format"):
        decode(tmp_path / name)


def test_not_audio_is_refused(tmp_path: Path):
    """A text file named .mp3 exists: the message says what it is, not libsndfile's "does not exist"."""
    (tmp_path / "fake.mp3").write_bytes(b"this is not audio " * 50)
    with pytest.raises(DataError, match=r"fake\.mp3: not mp3 audio: the file exists but its content is text") as err:
        decode(tmp_path / "fake.mp3")
    assert "does not exist" not in str(err.value)
    # bytes that look like an MPEG frame header at first but hold no audio: libsndfile's refusal, reworded
    (tmp_path / "junk.mp3").write_bytes(b"\xff\xfb" + bytes(range(256)) * 8)
    with pytest.raises(DataError, match=r"junk\.mp3: cannot be decoded as mp3 audio") as err:
        decode(tmp_path / "junk.mp3")
    assert "does not exist" not in str(err.value)


def test_a_one_sample_clip_is_refused_naming_the_file(tmp_path: Path):
    from scipy.io import wavfile

    wavfile.write(tmp_path / "one_sample.wav", 44100, np.array([1000], np.int16))
    with pytest.raises(DataError, match=r"one_sample\.wav: too short: 1 sample\(s\).*at least 256 samples"):
        decode(tmp_path / "one_sample.wav")


def test_power_db_of_silence_is_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a divide-by-zero RuntimeWarning fails the test
        db = power_db(np.zeros((4, 3)), top_db=80.0)
    assert np.all(db == -80.0)
    db = power_db(np.array([[1.0, 1e-12]]), top_db=80.0)
    assert db.max() == 0.0 and db.min() == -80.0


def test_clip_key_is_unique_and_safe():
    taken: set[str] = set()
    keys = [clip_key(Path(p), taken) for p in ["音声.mp3", "a b.wav", "a b.flac", "x/a b.flac", "...mp3"]]
    assert keys == ["音声", "a_b", "a_b_flac", "a_b_3", "clip"]


def test_read_manifest_needs_clips(tmp_path: Path):
    (tmp_path / "m.json").write_text('{"clips": []}')
    with pytest.raises(DataError, match=r"m\.json: field 'clips'"):
        read_manifest(tmp_path / "m.json")


def test_ogg_cut_at_a_page_boundary_is_refused(tmp_path: Path, shared_data: Path):
    """libsndfile decodes such a file as a shorter clip without complaint; the page chain tells."""
    data = (shared_data / "audio" / "librispeech-198-209-0000.ogg").read_bytes()
    (tmp_path / "cut.ogg").write_bytes(data[: data.rfind(b"OggS", 0, len(data) // 2)])
    with pytest.raises(DataError, match=r"cut\.ogg: truncated: the Ogg stream has no end-of-stream page"):
        decode(tmp_path / "cut.ogg")
