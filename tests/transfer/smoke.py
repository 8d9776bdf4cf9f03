"""Smoke-sized params for the transfer pipeline (seconds on a CPU), from profiles/smoke.yaml."""
from __future__ import annotations

from pathlib import Path

from pipelines.profiles import overrides

ROOT = Path(__file__).resolve().parents[2]
SMOKE = overrides("smoke", ["transfer"], ROOT)  # {dotted key: value}
