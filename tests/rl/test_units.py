"""The rl pipeline's pieces in process: the exact models and dynamic programming, the TD learners,
the intervals and the params' bounds."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from stages.core.errors import DataError, ParamsError
from stages.core.params import validate_section
from stages.rl.agents import Schedule, epsilon_greedy, rollout_returns, train_td, wilson_interval
from stages.rl.envs import (TabularModel, best_within, greedy, greedy_path, make_env, policy_return_within, tabular_model,
                            value_iteration)
from stages.rl.evaluate import cliff_distance, read_tables
from stages.rl.params import RlParams
from tests.conftest import ROOT


def two_state_chain() -> TabularModel:
    """State 0: action 0 stays (reward 0), action 1 moves to 1 (reward 1); state 1: both actions end (reward 2)."""
    T = np.zeros((2, 2, 2))
    T[0, 0, 0] = T[0, 1, 1] = T[1, 0, 1] = T[1, 1, 1] = 1.0
    R = np.zeros((2, 2, 2))
    R[0, 1, 1], R[1, :, 1] = 1.0, 2.0
    done = np.zeros((2, 2, 2), dtype=bool)
    done[1, :, 1] = True
    return TabularModel(T, R, done, start=0)


def test_value_iteration_on_a_chain_matches_the_hand_values():
    V, policy, _ = value_iteration(two_state_chain(), gamma=0.5, tolerance=1e-12)
    assert V == pytest.approx([1 + 0.5 * 2, 2]) and policy[0] == 1


def test_value_iteration_without_a_fixed_point_raises():
    loop = TabularModel(np.ones((1, 1, 1)), np.ones((1, 1, 1)), np.zeros((1, 1, 1), dtype=bool), start=0)
    with pytest.raises(RuntimeError, match="did not converge"):
        value_iteration(loop, gamma=1.0, tolerance=1e-6, max_sweeps=50)


def test_frozenlake_4x4_limits():
    """The time-limit optimum bounds every stationary policy; with the limit lifted it tends to the
    undiscounted value iteration's success probability."""
    env = make_env("frozenlake", "4x4")
    model = tabular_model(env)
    assert env.spec.max_episode_steps == 100 and model.T.sum(axis=2) == pytest.approx(np.ones((16, 4)))
    best = best_within(model, 100)
    V, policy, _ = value_iteration(model, gamma=0.99, tolerance=1e-10)
    mine = policy_return_within(model, policy, 100)
    assert 0.7 < mine <= best < 0.75
    assert policy_return_within(model, np.zeros(16, dtype=int), 100) < 0.05  # always left: hardly ever
    V1, _, _ = value_iteration(model, gamma=0.999999, tolerance=1e-12)
    assert best_within(model, 5000) == pytest.approx(V1[model.start], abs=1e-3)


def test_exact_success_agrees_with_rollouts_on_the_environment():
    env = make_env("frozenlake", "4x4")
    model = tabular_model(env)
    _, policy, _ = value_iteration(model, gamma=0.99, tolerance=1e-10)
    n = 2000
    successes = int(rollout_returns(env, policy, n, seed=0).sum())
    low, high = wilson_interval(successes, n)
    assert low <= policy_return_within(model, policy, 100) <= high


def test_cliffwalking_greedy_paths():
    model = tabular_model(make_env("cliffwalking"))
    _, policy, _ = value_iteration(model, gamma=0.99, tolerance=1e-10)
    path, ret, ended = greedy_path(model, policy, max_steps=100)
    assert (ret, len(path) - 1, ended, cliff_distance(path)) == (-13.0, 13, True, 1)
    up = np.zeros(48, dtype=int)  # always up: stuck in the top row, never ends
    assert greedy_path(model, up, max_steps=30)[2] is False
    with pytest.raises(ValueError, match="deterministic"):
        greedy_path(tabular_model(make_env("frozenlake")), np.zeros(16, dtype=int), max_steps=10)


def test_schedule_and_epsilon_greedy():
    s = Schedule(1.0, 0.1, 10)
    assert [s(0), s(5), s(10), s(99)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert Schedule(0.1, 0.1, 0)(0) == 0.1
    rng = np.random.default_rng(0)
    assert {epsilon_greedy(np.array([0.0, 1.0, 0.5]), 0.0, rng) for _ in range(20)} == {1}
    assert {epsilon_greedy(np.zeros(3), 0.0, rng) for _ in range(60)} == {0, 1, 2}  # ties: at random
    assert {epsilon_greedy(np.array([0.0, 1.0]), 1.0, rng) for _ in range(60)} == {0, 1}


def test_q_learning_and_sarsa_on_the_cliff():
    """Sutton & Barto's Example 6.6 in miniature: Q-learning's greedy path is the optimal one along the
    edge, SARSA's keeps away from it, and SARSA earns more while it learns."""
    env, model = make_env("cliffwalking"), tabular_model(make_env("cliffwalking"))
    schedule = Schedule(0.1, 0.1, 0)
    q = train_td(env, "qlearning", 300, 0.5, 1.0, schedule, seed=1)
    s = train_td(env, "sarsa", 300, 0.5, 1.0, schedule, seed=1)
    q_path = greedy_path(model, greedy(q.Q), 100)
    s_path = greedy_path(model, greedy(s.Q), 100)
    assert q_path[1] == -13.0 and s_path[1] < -13.0 and cliff_distance(s_path[0]) > cliff_distance(q_path[0])
    assert s.returns.mean() > q.returns.mean()
    assert q.lengths.sum() > 0 and len(q.returns) == 300


def test_training_is_reproducible_and_the_algorithm_is_checked():
    env = make_env("frozenlake")
    a = train_td(env, "qlearning", 200, 0.1, 0.99, Schedule(1.0, 0.1, 100), seed=3)
    b = train_td(env, "qlearning", 200, 0.1, 0.99, Schedule(1.0, 0.1, 100), seed=3)
    c = train_td(env, "qlearning", 200, 0.1, 0.99, Schedule(1.0, 0.1, 100), seed=4)
    assert np.array_equal(a.Q, b.Q) and np.array_equal(a.returns, b.returns) and not np.array_equal(a.Q, c.Q)
    with pytest.raises(ValueError, match="unknown algorithm"):
        train_td(env, "expected-sarsa", 1, 0.1, 0.99, Schedule(0.1, 0.1, 0), seed=0)
    with pytest.raises(ValueError, match="unknown environment"):
        make_env("Taxi-v3")


def test_wilson_interval():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(0.19, abs=0.01)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_read_tables_names_what_is_missing(tmp_path):
    path = tmp_path / "q_tables.npz"
    np.savez(path, frozenlake_qlearning_seed0=np.zeros((16, 4)))
    with pytest.raises(DataError, match=r"q_tables\.npz: no Q-table for frozenlake_sarsa, cliffwalking_qlearning"):
        read_tables(path)


@pytest.mark.parametrize(("dotted", "value", "message"), [
    ("oracle.gamma", 1.0, r"rl\.oracle\.gamma"),
    ("tabular.frozenlake.epsilon_start", 1.5, r"rl\.tabular\.frozenlake\.epsilon_start"),
    ("tabular.cliffwalking.gamma", 1.01, r"rl\.tabular\.cliffwalking\.gamma"),
    ("tabular.frozenlake.decay_episodes", 10**6, r"decay_episodes \(1000000\) exceeds episodes"),
    ("frozenlake.map_name", "5x5", r"rl\.frozenlake\.map_name"),
    ("policy.gamma", 1.5, r"rl\.policy\.gamma"),
    ("policy.lr", {"reinforce": 0.01, "ppo": 0.01}, r"name both algorithms \(reinforce, a2c\), got \['ppo', 'reinforce'\]"),
    ("policy.batch_size", 0, r"rl\.policy\.batch_size"),
    ("selfplay.dirichlet_fraction", 1.0, r"rl\.selfplay\.dirichlet_fraction"),
    ("arena.games", 3, r"rl\.arena\.games"),
    ("arena.playouts", [], r"rl\.arena\.playouts"),
])
def test_bad_params_name_the_key(dotted, value, message):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    validate_section(data, "rl", RlParams)  # the committed values are valid
    bad = copy.deepcopy(data)
    node = bad["rl"]
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(ParamsError, match=message):
        validate_section(bad, "rl", RlParams)
