"""The course check's caps for sequence (``python -m pipelines course-check sequence``).

Nothing is downloaded: the binary additions, the adding problem and the dates are generated from the
seed. The course's sequence length, widths, cells and optimisers stay; only the number of sequences,
seeds, epochs and updates shrink, so the check proves the course's settings run through every stage,
not their errors.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "sequence.bptt.addition.updates": 50,
    "sequence.memory.seeds": 1,
    "sequence.memory.train_sequences": 256,
    "sequence.memory.test_sequences": 64,
    "sequence.dates.seeds": 1,
    "sequence.dates.train_examples": 128,
    "sequence.dates.test_examples": 32,
    "sequence.dates.epochs": 1,
}
