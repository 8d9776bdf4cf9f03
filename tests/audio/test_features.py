"""Features match the plain librosa calls; a silent clip gives zeros and finite dB, no division by 0."""
from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest

from stages.audio.features import amplitude_spectrum, compute_features, rms_total
from stages.audio.params import FeaturesParams
from tests.audio.helpers import tone

P = FeaturesParams(sr=4000, n_fft=256, hop_length=64, n_mels=16, top_db=80, parallel="none")


def test_rms_total():
    assert rms_total(np.array([3.0, -3.0, 3.0, -3.0])) == 3.0
    assert rms_total(tone(1.0, amplitude=1.0)) == pytest.approx(1 / np.sqrt(2), rel=1e-3)


def test_amplitude_spectrum_peak_at_tone():
    freqs, amp = amplitude_spectrum(tone(1.0, freq=500.0), 8000)
    assert freqs[np.argmax(amp)] == pytest.approx(500.0)
    with pytest.raises(ValueError, match="empty"):
        amplitude_spectrum(np.zeros(0), 8000)


def test_features_match_plain_librosa():
    y = tone(1.0, freq=300.0)
    f = compute_features(y, 8000, P)
    y4 = librosa.resample(y, orig_sr=8000, target_sr=4000, res_type="soxr_hq")
    np.testing.assert_array_equal(f.rms, librosa.feature.rms(y=y4, frame_length=256, hop_length=64)[0])
    mel = librosa.feature.melspectrogram(y=y4, sr=4000, n_fft=256, hop_length=64, n_mels=16)
    np.testing.assert_allclose(f.mel_db, librosa.power_to_db(mel, ref=np.max, top_db=80), atol=1e-3)
    stft = np.abs(librosa.stft(y4, n_fft=256, hop_length=64))
    np.testing.assert_allclose(f.stft_db, librosa.amplitude_to_db(stft, ref=np.max, top_db=80), atol=1e-3)
    assert set(f.spectra) == {8000, 4000}
    assert f.stft_db.shape == (129, f.rms.shape[0]) and f.mel_db.shape == (16, f.rms.shape[0])
    assert set(f.arrays(64)) >= {"rms", "rms_times", "stft_db", "mel_db", "fft_8000", "fft_freqs_4000"}


def test_native_rate_when_sr_is_null():
    f = compute_features(tone(0.5), 8000, P.model_copy(update={"sr": None}))
    assert f.sr == 8000 and list(f.spectra) == [8000]


def test_silent_clip_no_divide_by_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = compute_features(np.zeros(8000, np.float32), 8000, P)
    assert f.rms_total == 0.0 and not f.rms.any()
    assert np.all(f.stft_db == -80.0) and np.all(f.mel_db == -80.0)
