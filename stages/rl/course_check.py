"""The course check's caps for rl (``python -m pipelines course-check rl``).

Nothing is downloaded: gymnasium's FrozenLake 8x8, CliffWalking and CartPole are code. The course's map,
schedule shape, step sizes and discounts, the self-play network's width and depth and its search stay;
only the number of episodes (training and rollouts), seeds, self-play games and arena games shrink, so
the check proves the course's settings run through every stage, not their success rates.
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
    "rl.selfplay.epochs": 1,
    "rl.selfplay.iterations": 1,
    "rl.selfplay.games_per_iteration": 2,
    "rl.selfplay.updates_per_iteration": 1,
    "rl.arena.games": 2,
    "rl.arena.playouts": [25],
    "rl.evaluate.episodes": 100,
}
