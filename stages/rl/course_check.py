"""The course check's caps for rl (``python -m pipelines course-check rl``).

Nothing is downloaded: gymnasium's FrozenLake 8x8, CliffWalking and CartPole are code. The course's map,
schedule shape, step sizes and discounts stay; only the number of episodes (training and rollouts)
and of seeds shrink, so the check proves the 8x8 path runs through every stage, not its success rate.
"""
from __future__ import annotations

from typing import Any

CAPS: dict[str, Any] = {
    "rl.tabular.seeds": 1,
    "rl.tabular.frozenlake.episodes": 200,
    "rl.tabular.frozenlake.decay_episodes": 100,
    "rl.tabular.cliffwalking.episodes": 50,
    "rl.policy.seeds": 1,
    "rl.policy.episodes": 20,
    "rl.policy.epochs": 1,
    "rl.evaluate.episodes": 100,
}
