"""Smoke-sized params for the represent pipeline (seconds on a CPU): the values in profiles/smoke.yaml."""
from __future__ import annotations

from pathlib import Path

from pipelines.profiles import overrides

ROOT = Path(__file__).resolve().parents[2]
SMOKE = overrides("smoke", ["represent"], ROOT)  # {dotted key: value}
