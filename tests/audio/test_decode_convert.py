"""Decode helpers and the WAV/FLAC/MP3 conversion."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.audio.clips import Clip, decode
from stages.audio.convert import export, ratios, write_wav
from stages.audio.decode import at_rates, cut, summarize
from tests.audio.helpers import tone


def test_at_rates_and_cut():
    clip = Clip("a", tone(2.0), 8000)
    signals = at_rates(clip, [4000, 8000, 2000])
    assert list(signals) == [8000, 4000, 2000] and signals[8000] is clip.y
    assert signals[4000].shape == (8000,) and signals[2000].shape == (4000,)
    assert cut(clip.y, 8000, 1.0).shape == (8000,) and cut(clip.y, 8000, 5.0).shape == (16000,)
    with pytest.raises(ValueError, match="positive"):
        cut(clip.y, 8000, 0.0)
    s = summarize(np.array([-0.5, 0.25], np.float32), 2)
    assert s == {"sr": 2, "shape": [2], "min": -0.5, "max": 0.25, "seconds": 1.0}


def test_wav_flac_mp3_round_trip(tmp_path: Path):
    y = tone(1.0)
    error = write_wav(tmp_path / "a.wav", y, 8000, "PCM_16")
    assert 0 < error <= 1 / 32768  # 16-bit quantisation
    export(tmp_path / "a.wav", tmp_path / "a.flac", "flac")
    export(tmp_path / "a.wav", tmp_path / "a.mp3", "mp3", "64k")
    wav, _, _ = decode(tmp_path / "a.wav")
    flac, _, _ = decode(tmp_path / "a.flac")
    mp3, sr, _ = decode(tmp_path / "a.mp3")
    assert np.array_equal(flac, wav)  # lossless
    assert sr == 8000 and abs(len(mp3) - len(y)) < 2000
    sizes = {f: (tmp_path / f"a.{f}").stat().st_size for f in ("wav", "flac", "mp3")}
    r = ratios(sizes)
    assert set(r) == {"flac", "mp3"} and 0 < r["mp3"] < r["flac"] < 1


def test_ratios_need_wav_size():
    with pytest.raises(ValueError, match="WAV size"):
        ratios({"wav": 0, "mp3": 10})


def test_ffmpeg_failure_names_the_input_not_the_temporary(tmp_path):
    """ffmpeg refuses FLAC from 4 samples; the message names the clip's source file."""
    from stages.core.errors import StageError

    wav = tmp_path / ".files.tmp123" / "tiny.wav"
    wav.parent.mkdir()
    write_wav(wav, np.zeros(4, np.float32), 8000, "PCM_16")
    with pytest.raises(StageError, match=r"^recordings/tiny\.wav: ffmpeg could not encode flac") as err:
        export(wav, wav.with_suffix(".flac"), "flac", source="recordings/tiny.wav")
    assert ".tmp" not in str(err.value)
