"""Smoke-sized params for the gan and anomaly pipelines (seconds on a CPU), shared by their tests."""
from __future__ import annotations

SMOKE = {
    "gan.digits.size": 16,
    "gan.digits.train_per_class": 24,
    "gan.digits.test_per_class": 4,
    "gan.dcgan.channels": 8,
    "gan.dcgan.epochs": 2,
    "gan.dcgan.batch_size": 16,
    "gan.sagan.channels": 8,
    "gan.sagan.epochs": 2,
    "gan.sagan.batch_size": 16,
    "anomaly.anogan.steps": 3,
    "anomaly.efficientgan.channels": 8,
    "anomaly.efficientgan.epochs": 2,
    "anomaly.efficientgan.batch_size": 16,
}


def smoke_params(params: dict) -> dict:
    """A copy of a parsed params.yaml with the smoke values set."""
    import copy

    out = copy.deepcopy(params)
    for dotted, value in SMOKE.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return out
