"""The course check's stand-ins for vit (``python -m pipelines course-check vit``).

The course downloads CIFAR-10's python tarball (md5-checked) and torchvision's ImageNet ViT-B/16
weights (``vit_b_16-c867db91.pth``); offline, a tarball of the same layout (photo crops, eight
training and one test image per class; 15% of them become the validation split, one per class trains) and a random-init ``torchvision.models.vit_b_16`` state dict
(its exact keys and shapes) are served from 127.0.0.1. The book's ViT, the ViT-B/16 at 224 px and the
CNN keep their architectures, optimisers, param groups and batch sizes; only images, epochs and the
number of attention rollouts drawn shrink.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "vit.data.max_train_per_class": 1,
    "vit.train.epochs": 1,
    "vit.train.warmup_epochs": 0,
    "vit.cnn.epochs": 1,
    "vit.cnn.warmup_epochs": 0,
    "vit.finetune.train.epochs": 1,
    "vit.finetune.train.warmup_epochs": 0,
    "vit.explain.images": 2,  # attention rollouts of ViT-B/16 at 224 px: 2 show the figure, 10 took 5 s more
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import cifar10_tarball, torchvision_weights

    cifar = kit.put("cifar-10-python.tar.gz", cifar10_tarball(train_per_class=8, test_per_class=1, seed=kit.seed))
    weights = kit.put("vit_b_16-c867db91.pth", torchvision_weights("vit_b_16", kit.seed))
    return {"vit.data.url": cifar.url, "vit.data.md5": cifar.md5,
            "vit.finetune.weights.url": weights.url, "vit.finetune.weights.sha256": weights.sha256}
