"""The environments of the `rl` pipeline (gymnasium's toy-text ones) and their exact models.

FrozenLake and CliffWalking publish their dynamics (``env.unwrapped.P``: for each state and action,
the list of ``(probability, next state, reward, terminated)``). :func:`tabular_model` turns that
into arrays, and the dynamic-programming functions below use them: value iteration gives the optimal
policy, backward induction the best any policy can do within the time limit, and a policy's exact
expected return within a horizon is one matrix recursion (no sampling noise).

The ids are pinned: gymnasium raises ``DeprecatedEnv`` for the older versions (CliffWalking-v0).
Rendering stays off (it needs pygame).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENV_IDS = {"frozenlake": "FrozenLake-v1", "cliffwalking": "CliffWalking-v1"}


def make_env(name: str, map_name: str = "4x4"):
    """A gymnasium environment by its short name, with gymnasium's own time limit (FrozenLake 4x4:
    100 steps, 8x8: 200; CliffWalking has none)."""
    import gymnasium as gym

    if name not in ENV_IDS:
        raise ValueError(f"unknown environment {name!r}: expected one of {sorted(ENV_IDS)}")
    kwargs = {"map_name": map_name, "is_slippery": True} if name == "frozenlake" else {}
    return gym.make(ENV_IDS[name], **kwargs)


@dataclass(frozen=True)
class TabularModel:
    """A finite MDP as arrays: ``T[s, a, s']`` transition probabilities, ``R[s, a, s']`` rewards and
    ``done[s, a, s']`` whether that transition ends the episode; ``start`` the initial state."""

    T: np.ndarray
    R: np.ndarray
    done: np.ndarray
    start: int

    @property
    def n_states(self) -> int:
        return self.T.shape[0]

    @property
    def n_actions(self) -> int:
        return self.T.shape[1]


def tabular_model(env) -> TabularModel:
    """The exact model of a toy-text environment, read from ``env.unwrapped.P``."""
    base = env.unwrapped
    n_s, n_a = base.observation_space.n, base.action_space.n
    T = np.zeros((n_s, n_a, n_s))
    R = np.zeros((n_s, n_a, n_s))
    done = np.zeros((n_s, n_a, n_s), dtype=bool)
    for s, actions in base.P.items():
        for a, outcomes in actions.items():
            for p, s2, r, terminated in outcomes:
                T[s, a, s2] += p
                R[s, a, s2] = r
                done[s, a, s2] = terminated
    start = int(np.argmax(base.initial_state_distrib))
    return TabularModel(T, R, done, start)


def action_values(model: TabularModel, V: np.ndarray, gamma: float) -> np.ndarray:
    """``Q[s, a] = Σ_s' T (R + γ V(s') [not done])``."""
    return np.einsum("ijk,ijk->ij", model.T, model.R + gamma * np.where(model.done, 0.0, V[None, None, :]))


def value_iteration(model: TabularModel, gamma: float, tolerance: float, max_sweeps: int = 100_000) -> tuple[np.ndarray, np.ndarray, int]:
    """Optimal state values and a greedy policy (Bellman optimality backups until the largest change
    is below ``tolerance``). Returns ``(V, policy, sweeps)``.

    Raises:
        RuntimeError: no convergence within ``max_sweeps`` (γ = 1 on a problem without a proper policy).
    """
    V = np.zeros(model.n_states)
    for sweep in range(1, max_sweeps + 1):
        Q = action_values(model, V, gamma)
        new = Q.max(axis=1)
        delta = float(np.max(np.abs(new - V)))
        V = new
        if delta < tolerance:
            return V, greedy(action_values(model, V, gamma)), sweep
    raise RuntimeError(f"value iteration did not converge in {max_sweeps} sweeps (gamma={gamma})")


def greedy(Q: np.ndarray) -> np.ndarray:
    """The greedy policy of an action-value table (ties: the lowest action index)."""
    return np.argmax(Q, axis=1)


def best_within(model: TabularModel, horizon: int) -> float:
    """The largest expected (undiscounted) return any policy gets from the start within ``horizon``
    steps: backward induction, with a policy that may depend on the steps left. For FrozenLake that is
    the optimal probability of reaching the goal before the time limit, the limit every learner is
    measured against."""
    V = np.zeros(model.n_states)
    for _ in range(horizon):
        V = action_values(model, V, 1.0).max(axis=1)
    return float(V[model.start])


def policy_return_within(model: TabularModel, policy: np.ndarray, horizon: int) -> float:
    """A deterministic policy's exact expected (undiscounted) return from the start within ``horizon``
    steps (FrozenLake: its probability of success before the time limit)."""
    idx = np.arange(model.n_states)
    T, R, done = model.T[idx, policy], model.R[idx, policy], model.done[idx, policy]
    V = np.zeros(model.n_states)
    for _ in range(horizon):
        V = np.einsum("ij,ij->i", T, R + np.where(done, 0.0, V[None, :]))
    return float(V[model.start])


def greedy_path(model: TabularModel, policy: np.ndarray, max_steps: int) -> tuple[list[int], float, bool]:
    """Follow a deterministic policy on a deterministic model from the start: the states visited, the
    return, and whether an episode end was reached within ``max_steps`` (a policy that loops never
    ends).

    Raises:
        ValueError: the model is not deterministic under this policy.
    """
    s, path, total = model.start, [model.start], 0.0
    for _ in range(max_steps):
        probs = model.T[s, policy[s]]
        s2 = int(np.argmax(probs))
        if probs[s2] != 1.0:
            raise ValueError(f"greedy_path needs deterministic dynamics; state {s} action {policy[s]} is stochastic")
        total += float(model.R[s, policy[s], s2])
        ended = bool(model.done[s, policy[s], s2])
        s = s2
        path.append(s)
        if ended:
            return path, total, True
    return path, total, False


def one_cpu_thread() -> None:
    """Run torch's CPU kernels on one thread: for the rl pipeline's small networks (64 units, batches of 8), a hand-off to a
    second thread costs more than the work (measured on 2 cores with another process busy: 17 µs per
    forward on one thread, 1–5 ms on two)."""
    import torch

    torch.set_num_threads(1)
