"""The course check's caps for anomaly (``python -m pipelines course-check anomaly``).

anomaly reads gan's digits and DCGAN, so the check also applies gan's course profile and stand-ins
(:mod:`stages.gan.course_check`). The book's Efficient GAN (64 channels) and AnoGAN's z search stay;
only epochs and search steps shrink to what runs every stage once.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "anomaly.anogan.steps": 2,
    "anomaly.efficientgan.epochs": 1,
}
