"""The course check's caps for sequence (``python -m pipelines course-check sequence``).

Nothing is downloaded: the binary additions and the adding problem are generated from the seed. The
course's sequence length, width, cells and optimiser stay; only the number of sequences, seeds and
updates shrink, so the check proves the course's settings run through every stage, not their errors.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "sequence.bptt.addition.updates": 50,
    "sequence.memory.seeds": 1,
    "sequence.memory.train_sequences": 256,
    "sequence.memory.test_sequences": 64,
}
