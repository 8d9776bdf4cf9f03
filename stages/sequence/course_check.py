"""The course check's caps and stand-ins for sequence (``python -m pipelines course-check sequence``).

The binary additions, the adding problem and the dates are generated from the seed. The course's
translation data is the whole Tanaka corpus as GitHub's archive of ``odashi/small_parallel_enja``
(50,000 training pairs); offline, a ``.zip`` of the same layout (its top folder, ``train``/``dev``/
``test`` ``.en`` and ``.ja`` files) holding the first pairs of the vendored files is served from
127.0.0.1. The course's sequence length, widths, layers, cells and optimisers stay; only the number
of sequences, pairs, seeds, epochs and updates shrink, so the check proves the course's settings run
through every stage, not their errors.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any

TRAIN_PAIRS, HELD_OUT_PAIRS = 200, 20

CAPS: dict[str, Any] = {
    "sequence.bptt.addition.updates": 50,
    "sequence.memory.seeds": 1,
    "sequence.memory.train_sequences": 256,
    "sequence.memory.test_sequences": 64,
    "sequence.dates.seeds": 1,
    "sequence.dates.train_examples": 128,
    "sequence.dates.test_examples": 32,
    "sequence.dates.epochs": 1,
    "sequence.word2vec.epochs": 1,
    "sequence.translate.seeds": 1,
    "sequence.translate.epochs": 1,
}


def tanaka_zip(train: int = TRAIN_PAIRS, held_out: int = HELD_OUT_PAIRS) -> bytes:
    """GitHub's archive layout of small_parallel_enja (``small_parallel_enja-master/train.en`` …) with
    the first pairs of the vendored files."""
    from stages.sequence.tanaka import DATASETS

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for split, shard, n in (("train", ".000", train), ("dev", "", held_out), ("test", "", held_out)):
            for lang in ("en", "ja"):
                lines = (DATASETS / f"{split}.{lang}{shard}").read_bytes().splitlines(keepends=True)[:n]
                z.writestr(zipfile.ZipInfo(f"small_parallel_enja-master/{split}.{lang}", date_time=(1980, 1, 1, 0, 0, 0)), b"".join(lines))
    return buf.getvalue()


def standins(kit) -> dict[str, Any]:
    archive = kit.put("master.zip", tanaka_zip())
    return {"sequence.pairs.url": archive.url, "sequence.pairs.sha256": archive.sha256}
