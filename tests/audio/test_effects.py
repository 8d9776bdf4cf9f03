"""Effects: lengths, identities and the parameter checks."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from stages.audio.effects import apply_effects, clip_signal, pitch_shift, time_stretch, vtln, vtln_source_bins
from stages.audio.params import EffectsParams
from tests.audio.helpers import tone

P = EffectsParams(sr=None, pitch_steps=[12], stretch_rates=[2.0], vtln_alpha=[1.2], vtln_cutoff=0.85, clip_threshold=[0.5],
                  parallel="none")


def dominant(y: np.ndarray, sr: int) -> float:
    amp = np.abs(np.fft.rfft(y))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(amp)])


def test_pitch_shift_octave_doubles_frequency():
    y = tone(1.0, freq=400.0)
    z = pitch_shift(y, 8000, 12)
    assert len(z) == len(y) and dominant(z, 8000) == pytest.approx(800.0, rel=0.02)


def test_time_stretch_length():
    y = tone(1.0)
    assert len(time_stretch(y, 2.0)) == pytest.approx(len(y) / 2, abs=2)
    assert len(time_stretch(y, 0.5)) == pytest.approx(len(y) * 2, abs=2)
    with pytest.raises(ValueError, match="positive"):
        time_stretch(y, 0.0)


def test_vtln_warp_map():
    src = vtln_source_bins(1025, 1.0, 0.85)
    np.testing.assert_allclose(src, np.arange(1025))  # alpha 1: identity
    src = vtln_source_bins(1025, 1.2, 0.85)
    assert src[0] == 0 and src[-1] == 1024 and np.all(np.diff(src) > 0)
    assert src[120] == pytest.approx(100.0)  # below the knee: f_out = 1.2 * f_in
    with pytest.raises(ValueError, match="cutoff"):
        vtln_source_bins(1025, 1.2, 1.0)


def test_vtln_moves_formant():
    y = tone(1.0, freq=1000.0)
    assert dominant(vtln(y, 1.2, 0.85), 8000) == pytest.approx(1200.0, rel=0.03)
    np.testing.assert_allclose(vtln(y, 1.0, 0.85), y, atol=1e-4)


def test_clipping():
    y = np.array([-1.0, -0.2, 0.0, 0.4, 0.8], np.float32)
    np.testing.assert_array_equal(clip_signal(y, 0.5), np.array([-0.5, -0.2, 0.0, 0.4, 0.5], np.float32))
    with pytest.raises(ValueError, match="threshold"):
        clip_signal(y, 1.5)


def test_effects_on_silence_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dict(apply_effects(np.zeros(4000, np.float32), 8000, P))
    assert list(out) == ["pitch_+12", "stretch_2", "vtln_1.2", "clip_0.5"]
    assert all(np.isfinite(z).all() and not z.any() for z in out.values())


@pytest.mark.parametrize("stage", ["stages.audio.effects", "stages.audio.features"])
def test_the_stage_runs_numpy_on_its_baseline_kernels(stage):
    """As a stage (python -m), audio-effects and audio-features limit numpy to the kernels every
    x86-64 CPU runs, so their float outputs do not depend on AVX2/AVX-512
    (see benchmarks/bench_effects_baseline.py)."""
    import platform
    import subprocess
    import sys

    from tests.conftest import ROOT, run_env

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the baseline setting is for x86-64")
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['stage', '--help']\n"
        f"try:\n    runpy.run_module({stage!r}, run_name='__main__')\n"
        "except BaseException:\n    pass\n"
        "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f\n"
        "print('KERNELS', [k for k in d if f.get(k)])\n"
    )
    env = {k: v for k, v in run_env().items() if "CPU_FEATURES" not in k}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert "KERNELS []" in out
