"""Embedded clips are deterministic; the user's files are listed and checked before any work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.audio.download import describe, generate_embedded, list_files, resonator
from stages.audio.params import DownloadParams, EmbeddedParams
from stages.core.errors import DataError
from tests.audio.helpers import tone, write

EMBEDDED = EmbeddedParams(sr=8000, seconds=1.0)


def test_embedded_is_deterministic_and_seeded():
    a, b, c = generate_embedded(8000, 1.0, 1), generate_embedded(8000, 1.0, 1), generate_embedded(8000, 1.0, 2)
    assert set(a) == {"voice", "ring"}
    for key in a:
        assert a[key].shape == (8000,) and a[key].dtype == np.float32
        assert np.array_equal(a[key], b[key])
        assert 0.4 < np.abs(a[key]).max() <= 0.5
    assert not np.array_equal(a["voice"], c["voice"])


def test_ring_tone_has_cadence():
    ring = generate_embedded(8000, 3.0, 0)["ring"]
    on, off = ring[int(0.2 * 8000): int(0.8 * 8000)], ring[int(1.1 * 8000): int(1.4 * 8000)]
    assert np.sqrt(np.mean(on**2)) > 0.1 and np.abs(off).max() == 0.0


def test_voice_is_voiced_at_speech_pitch():
    voice = generate_embedded(16000, 1.0, 0)["voice"].astype(float)
    seg = voice[int(0.1 * 16000): int(0.25 * 16000)]  # inside the first syllable
    ac = np.correlate(seg, seg, "full")[len(seg) - 1:]
    lag = np.argmax(ac[16000 // 300: 16000 // 60]) + 16000 // 300  # search 60-300 Hz
    assert 80 < 16000 / lag < 200


def test_resonator_unit_dc_gain():
    b, a = resonator(700.0, 100.0, 16000)
    assert b.sum() / a.sum() == pytest.approx(1.0)


def test_list_files_from_folder_and_file(tmp_path: Path):
    write(tmp_path / "b.wav", tone())
    write(tmp_path / "a.flac", tone())
    (tmp_path / "notes.txt").write_text("not audio")
    src = DownloadParams(source="path", path=[str(tmp_path)], embedded=EMBEDDED)
    assert [p.name for p, _ in list_files(src)] == ["a.flac", "b.wav"]


def test_list_files_folder_without_audio(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(DataError, match="holds no file ending in"):
        list_files(DownloadParams(source="path", path=[str(tmp_path)], embedded=EMBEDDED))


def test_describe_reports_clip(tmp_path: Path):
    entry = describe(write(tmp_path / "a.wav", tone(0.5)), "a", "mine")
    assert entry["native_sr"] == 8000 and entry["samples"] == 4000 and entry["file"] == "a.wav"


def test_describe_silent_clip_is_kept(tmp_path: Path, caplog):
    entry = describe(write(tmp_path / "s.wav", np.zeros(800, np.float32)), "s", "s.wav")
    assert entry["peak"] == 0.0
    assert "silent" in caplog.text
