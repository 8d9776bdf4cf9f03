"""Tabular temporal-difference learners: Q-learning (off-policy) and SARSA (on-policy).

Both act ε-greedily under the same linear schedule and differ only in their target: Q-learning
bootstraps from the best next action (``max_a' Q(s', a')``), SARSA from the action it will actually
take next (``Q(s', a')``, a' drawn ε-greedily). On CliffWalking that is Sutton & Barto's Example 6.6:
Q-learning learns the optimal path along the cliff edge and falls off it while exploring; SARSA
learns the longer, safer path and earns more per episode while it learns.

An episode cut by the time limit (``truncated``) is not an ending of the task: its last step still
bootstraps from the next state's value; only ``terminated`` zeroes it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALGORITHMS = ("qlearning", "sarsa")


@dataclass(frozen=True)
class Schedule:
    """ε decays linearly from ``start`` to ``end`` over the first ``decay_episodes`` episodes, then stays."""

    start: float
    end: float
    decay_episodes: int

    def __call__(self, episode: int) -> float:
        if episode >= self.decay_episodes:
            return self.end
        return self.start + (self.end - self.start) * episode / self.decay_episodes


def epsilon_greedy(Q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """A random action with probability ε, else a greedy one (ties broken at random, so that an
    all-zero table explores instead of always taking action 0)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(Q_row)))
    best = np.flatnonzero(Q_row == Q_row.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


@dataclass
class Learned:
    """A learner's table and what it earned per training episode (its online returns)."""

    Q: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray


def train_td(env, algorithm: str, episodes: int, alpha: float, gamma: float, schedule: Schedule, seed: int) -> Learned:
    """Train one learner for ``episodes`` episodes on ``env`` (a gymnasium env with discrete states and
    actions). The env is reset with ``seed`` once; ε-greedy draws come from a generator of that seed.

    Raises:
        ValueError: an unknown ``algorithm``.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}: expected one of {ALGORITHMS}")
    sarsa = algorithm == "sarsa"
    rng = np.random.default_rng(seed)
    Q = np.zeros((env.observation_space.n, env.action_space.n))
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    s, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            s, _ = env.reset()
        eps = schedule(episode)
        a = epsilon_greedy(Q[s], eps, rng)
        total, steps = 0.0, 0
        while True:
            s2, r, terminated, truncated, _ = env.step(a)
            total += r
            steps += 1
            a2 = epsilon_greedy(Q[s2], eps, rng) if sarsa else 0
            if terminated:
                target = r
            else:
                target = r + gamma * (Q[s2, a2] if sarsa else Q[s2].max())
            Q[s, a] += alpha * (target - Q[s, a])
            if terminated or truncated:
                break
            s = s2
            a = a2 if sarsa else epsilon_greedy(Q[s], eps, rng)
        returns[episode], lengths[episode] = total, steps
    return Learned(Q, returns, lengths)


def rollout_returns(env, policy: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes of a deterministic policy on ``env`` (the env's own time
    limit ends an episode; ``seed`` seeds the first reset)."""
    out = np.zeros(episodes)
    s, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            s, _ = env.reset()
        while True:
            s, r, terminated, truncated, _ = env.step(int(policy[s]))
            out[episode] += r
            if terminated or truncated:
                break
    return out


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval of a success rate (better than the normal one near 0 and 1)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
