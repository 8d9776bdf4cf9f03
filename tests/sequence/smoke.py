"""Smoke-sized params for the sequence pipeline (seconds on a CPU): the values in profiles/smoke.yaml."""
from __future__ import annotations

from pathlib import Path

from pipelines.profiles import overrides

ROOT = Path(__file__).resolve().parents[2]
SMOKE = overrides("smoke", ["sequence"], ROOT)  # {dotted key: value}
