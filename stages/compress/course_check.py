"""The course check's stand-ins for compress (``python -m pipelines course-check compress``).

The course downloads CIFAR-10's python tarball (md5-checked); offline, a tarball of the same layout
(photo crops, four training and one test image per class: each ResNet-18 epoch is seconds on a CPU) is served from 127.0.0.1. The ResNet-18
teacher, the students' widths, every recipe's optimiser and the int8 backend stay the course's; only
epochs, seeds, the sparsities (one) and the calibration images shrink.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "compress.teacher.epochs": 1,
    "compress.students.epochs": 1,
    "compress.students.seeds": 1,
    "compress.omitted.epochs": 1,
    "compress.omitted.seeds": 1,
    "compress.prune.sparsities": [0.9],  # one sparsity runs the stage; each took ResNet-18 4 s to prune and tune
    "compress.prune.epochs": 1,
    "compress.prune.seeds": 1,
    "compress.quantize.calibration_images": 16,
    "compress.quantize.qat.epochs": 1,
    "compress.quantize.qat.seeds": 1,
    "compress.evaluate.latency_repeats": 1,  # the latency rounds (run record only) of every model: 1 runs the code
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import cifar10_tarball

    cifar = kit.put("cifar-10-python.tar.gz", cifar10_tarball(train_per_class=4, test_per_class=1, seed=kit.seed))
    return {"compress.data.url": cifar.url, "compress.data.md5": cifar.md5}
