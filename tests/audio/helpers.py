"""Tiny audio files for the audio tests (written on the fly, never committed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 8000


def tone(seconds: float = 0.5, freq: float = 440.0, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path: Path, y: np.ndarray, sr: int = SR, **kw) -> Path:
    sf.write(path, y, sr, **kw)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to ``keep`` of its bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
