"""The course check's caps for audio (``python -m pipelines course-check audio``).

The course's only change to audio is the effects' sample rate (the clip's native 44,100 Hz); its
audio is the course's own mp3s, which the embedded clips (a generated voice and a ring tone at
44,100 Hz) stand in for. Nothing is downloaded, so there are no stand-ins; the check shortens the
generated clips from 3 s to 1.5 s (still past the course's 1 s cut): every stage runs at the course's
rates, windows and effects on half the samples.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "audio.download.embedded.seconds": 1.5,
}
