"""End to end: `dvc repro` of the audio stages on the real clips in ../shared/data/audio (path source),
and the download stage refusing bad files without leaving anything behind."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from pipelines.profiles import overrides
from stages.core.numerics import pins_blas_core
from tests.audio.helpers import tone, truncate, write
from tests.conftest import BIN, ROOT, run_env

STAGES = ["audio-download", "audio-decode", "audio-features", "audio-convert", "audio-effects"]
SMOKE = overrides("smoke", ["audio"], Path(__file__).resolve().parents[2])  # profiles/smoke.yaml: few effects


def use_clips(repo, folder: Path) -> None:
    repo.set_param("audio.download.source", "path")
    repo.set_param("audio.download.path", [str(folder)])
    for key, value in SMOKE.items():
        repo.set_param(key, value)
    repo.commit("audio: own clips, smoke effects")


@pytest.mark.e2e
@pytest.mark.slow(75)
def test_repro_on_real_clips_and_a_silent_one(temp_repo, shared_data: Path, tmp_path: Path):
    """The real clips, and beside them a silent one (all zeros), which runs through: its RMS is 0, it is
    marked silent and its dB spectrograms are finite (flat), with a warning."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip in sorted((shared_data / "audio").iterdir()):
        if clip.is_file():
            (folder / clip.name).symlink_to(clip)
    write(folder / "silence.wav", np.zeros(8000, np.float32), subtype="PCM_16")
    use_clips(temp_repo, folder)
    proc = temp_repo.dvc("repro", *STAGES)
    assert set(temp_repo.ran_stages(proc)) == set(STAGES)
    assert "silent" in proc.stdout + proc.stderr
    root = temp_repo.path

    manifest = json.loads((root / "data/audio/manifest.json").read_text())
    keys = [c["key"] for c in manifest["clips"]]
    assert keys == ["librispeech-198-209-0000", "robin-whistle-456440", "silence"]
    assert [c["native_sr"] for c in manifest["clips"]] == [22050, 22050, 8000]

    summary = json.loads((root / "artifacts/audio/decode/summary.json").read_text())
    assert summary[keys[0]]["rates"]["8000"]["shape"][0] == pytest.approx(13.91 * 8000, rel=0.01)
    assert summary[keys[0]]["first"]["shape"] == [22050]

    metrics = json.loads((root / "artifacts/audio/features/metrics.json").read_text())["clips"]
    assert all(metrics[k]["rms"] > 0 and not metrics[k]["silent"] for k in keys[:2])
    assert metrics["silence"]["rms"] == 0.0 and metrics["silence"]["silent"] is True
    with np.load(root / "artifacts/audio/features/clips/silence/features.npz") as f:
        assert np.isfinite(f["mel_db"]).all() and np.isfinite(f["stft_db"]).all()
    with np.load(root / f"artifacts/audio/features/clips/{keys[0]}/features.npz") as f:
        assert f["mel_db"].shape[0] == 128 and f["stft_db"].shape[1] == f["rms"].shape[0]
    for name in ("rms", "spectrum", "spectrogram"):
        assert (root / f"artifacts/audio/features/clips/{keys[1]}/{name}.png").stat().st_size > 1000

    convert = json.loads((root / "artifacts/audio/convert/metrics.json").read_text())["clips"]
    assert all(convert[k]["flac_max_error_vs_wav"] == 0.0 and convert[k]["ratio_to_wav"]["mp3"] < 1 for k in keys[:2])

    effects = sorted(p.name for p in (root / f"artifacts/audio/effects/{keys[1]}").iterdir())
    assert effects == ["clip_0.5.wav", "pitch_+3.wav", "spectrograms.png", "stretch_2.wav", "vtln_1.1.wav"]
    assert sf.info(root / f"artifacts/audio/effects/{keys[1]}/stretch_2.wav").duration == pytest.approx(2.699 / 2, abs=0.01)

    assert temp_repo.ran_stages(temp_repo.dvc("repro", *STAGES)) == []  # nothing changed, nothing runs


@pytest.mark.e2e
@pytest.mark.skipif(not pins_blas_core(),
                    reason="the same bytes are promised on x86-64 CPUs with AVX2 and FMA (stages.core.numerics)")
def test_embedded_clips_give_the_committed_bytes_on_this_cpu(temp_repo):
    """The data stages' outputs are the bytes the committed dvc.lock records, on whatever x86-64 host
    this runs: audio-features' mel spectrograms came out in other bytes on an AVX-512 Xeon than on the
    AMD host that wrote the lock (OpenBLAS's kernels, now pinned). Started cold, as `make repro`
    starts them: a stage forked from the tests' warm interpreter finds numpy imported with this CPU's
    own kernels."""
    proc = temp_repo.run(str(BIN / "dvc"), "repro", "audio-features", "audio-effects", env=run_env(REPROLAB_FORKSERVER=""))
    assert {"audio-download", "audio-features", "audio-effects"} <= set(temp_repo.ran_stages(proc))
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    now = yaml.safe_load((temp_repo.path / "dvc.lock").read_text())["stages"]
    for name in ("audio-download", "audio-features", "audio-effects"):
        assert ({o["path"]: o["md5"] for o in now[name]["outs"]}
                == {o["path"]: o["md5"] for o in committed[name]["outs"]}), name


@pytest.mark.e2e
@pytest.mark.parametrize("bad", ["truncated.ogg", "empty.wav", "voice.m4a"])
def test_bad_clip_stops_download_and_writes_nothing(temp_repo, tmp_path: Path, bad: str):
    folder = tmp_path / "clips"
    folder.mkdir()
    write(folder / "a_good.wav", tone())
    if bad == "truncated.ogg":
        truncate(write(folder / bad, tone(2.0)))
        where = folder / bad
    elif bad == "empty.wav":
        (folder / bad).write_bytes(b"")
        where = folder / bad
    else:  # a single file named explicitly, in a format the pipeline does not read
        (tmp_path / bad).write_bytes(b"\0" * 64)
        where = tmp_path / bad
    temp_repo.set_param("audio.download.source", "path")
    temp_repo.set_param("audio.download.path", [str(folder)] + ([str(where)] if where.parent != folder else []))
    proc = temp_repo.python("-m", "stages.audio.download", check=False)  # paths from its dvc.yaml entry
    assert proc.returncode == 2  # a StageError: bad input
    assert str(where) in proc.stderr and "Traceback" not in proc.stderr
    assert not (temp_repo.path / "data/audio").exists() or not any((temp_repo.path / "data/audio").iterdir())
