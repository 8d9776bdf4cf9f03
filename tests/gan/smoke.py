"""Smoke-sized params for the gan and anomaly pipelines (seconds on a CPU), shared by their tests.

The values live in profiles/smoke.yaml, the one place tests, CI and users share
(`python -m pipelines profile apply smoke gan anomaly`)."""
from __future__ import annotations

from pathlib import Path

from pipelines.profiles import apply_overrides, overrides

ROOT = Path(__file__).resolve().parents[2]
SMOKE = overrides("smoke", ["gan", "anomaly"], ROOT)  # {dotted key: value}


def smoke_params(params: dict) -> dict:
    """A copy of a parsed params.yaml with the smoke values set."""
    return apply_overrides(params, SMOKE)
