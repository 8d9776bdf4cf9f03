"""The course check's caps and stand-ins for represent (``python -m pipelines course-check represent``).

The course downloads STL-10's binary tarball (md5-checked); offline, a tarball of the same layout
(photo crops at 96x96, four training and two test images per class) is served from 127.0.0.1. The
ResNet-18 encoder, the embedding size, every recipe's optimiser and batch size, the temperature and
the transforms stay the course's; only the epochs, the views per image and the probe's label draws
shrink.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "represent.views.views_per_image": 2,
    "represent.contrastive.epochs": 1,
    "represent.triplet.epochs": 1,
    "represent.simclr.epochs": 1,
    "represent.supervised.epochs": 1,
    "represent.probe.subsets": 1,
}


def standins(kit) -> dict[str, Any]:
    from stages.represent.stl10 import standin_tarball

    stl = kit.put("stl10_binary.tar.gz", standin_tarball(train_per_class=4, test_per_class=2, seed=kit.seed))
    return {"represent.views.url": stl.url, "represent.views.md5": stl.md5}
