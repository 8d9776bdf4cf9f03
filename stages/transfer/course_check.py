"""The course check's stand-ins for transfer (``python -m pipelines course-check transfer``).

The course downloads ``hymenoptera_data.zip`` (sha256-checked) and torchvision's ImageNet VGG16
(``vgg16-397923af.pth``); offline, a zip of the same layout (``hymenoptera_data/{train,val}/{ants,bees}/``
with JPEG photo crops of ImageNet's usual size) and a random-init ``torchvision.models.vgg16`` state
dict (its exact keys and shapes) are served from 127.0.0.1. VGG16 at 224 px, the book's transforms,
SGD and per-group learning rates stay; only the number of images and epochs shrink.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "transfer.data.train_per_class": 1,
    "transfer.data.val_per_class": 1,
    "transfer.train.epochs": 1,
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import image_folder_zip, torchvision_weights

    data = kit.put("hymenoptera_data.zip", image_folder_zip("hymenoptera_data", ["ants", "bees"],
                                                            {"train": 3, "val": 3}, seed=kit.seed))
    weights = kit.put("vgg16-397923af.pth", torchvision_weights("vgg16", kit.seed))
    return {"transfer.data.url": data.url, "transfer.data.sha256": data.sha256,
            "transfer.pretrain.weights.url": weights.url, "transfer.pretrain.weights.sha256": weights.sha256}
