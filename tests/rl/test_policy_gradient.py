"""REINFORCE and A2C in process: the returns, the runs' independence, resume, the trained policy's
evaluation, and the budget."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stages.core.batches import Iterations
from stages.core.training import TrainingRun
from stages.rl.params import PolicyParams
from stages.rl.policy_gradient import (KIND, MLPConfig, Settings, discounted_returns, max_updates, mlp, policy_gradient_parts,
                                       policy_returns)

RECIPE = PolicyParams(seeds=1, episodes=12, hidden=8, gamma=0.99, n_steps=5, value_coef=0.5, entropy_coef=0.01, epochs=2,
                      batch_size=4, optimizer="adam", lr={"reinforce": 1e-2, "a2c": 1e-3}, clip_grad_norm=0.5)


def settings(algorithm: str, seed: int = 0, episodes: int = 12) -> Settings:
    return Settings(algorithm=algorithm, seed=seed, envs=4, episodes=episodes, gamma=0.99, n_steps=5, value_coef=0.5,
                    entropy_coef=0.01)


def train(runs: list[Settings], epochs: int = 2, resume=None):
    run = TrainingRun("rl-policy", RECIPE.model_copy(update={"epochs": epochs}), kind=KIND, device="cpu", seed=0)
    data = Iterations(-(-max(max_updates(s) for s in runs) // 2))
    trainer = run.build(**policy_gradient_parts(runs, RECIPE.hidden, RECIPE, threshold=475.0), data=data, key="k", resume=resume)
    trainer.fit(data)
    return trainer


def test_discounted_returns_stop_at_an_episode_end_and_bootstrap_the_rest():
    rewards = np.array([[1.0], [1.0], [1.0], [1.0]])
    continues = np.array([[1.0], [0.0], [1.0], [1.0]])  # the episode ends at step 1; a new one runs on
    G = discounted_returns(rewards, 0.5, continues, bootstrap=np.array([8.0]))
    assert G[:, 0] == pytest.approx([1.5, 1.0, 1 + 0.5 * (1 + 0.5 * 8), 1 + 0.5 * 8])
    with pytest.raises(ValueError, match="disagree"):
        discounted_returns(rewards, 0.5, continues[:3], bootstrap=np.array([0.0]))


def test_settings_refuse_an_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm 'ppo'"):
        settings("ppo")


def test_the_budget_covers_the_longest_possible_run():
    assert max_updates(settings("reinforce", episodes=10)) == 3  # batches of 4 episodes
    assert max_updates(settings("a2c", episodes=10)) == 10 * 500 // (4 * 5)  # every episode at the time limit


def test_runs_train_to_their_budget_and_a_run_does_not_depend_on_the_others():
    both = train([settings("reinforce"), settings("a2c")])
    alone = train([settings("a2c")])
    results = both.objective.results()
    assert {r["episodes"] for r in results.values()} == {12} and all(r["solved_at"] is None for r in results.values())
    table = both.objective.returns_table()
    assert list(table.columns) == ["algorithm", "seed", "episode", "return", "running_reward"]
    a2c = table[table["algorithm"] == "a2c"].reset_index(drop=True)
    assert a2c.equals(alone.objective.returns_table())  # same seed, same episodes, whoever shares the stage
    assert (a2c["return"] >= 8).all() and (a2c["return"] <= 500).all()  # CartPole cannot fall in fewer than 8 steps
    for name in ("a2c_seed0_policy", "a2c_seed0_value"):
        for a, b in zip(both.models[name].state_dict().values(), alone.models[name].state_dict().values()):
            assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(both.models["reinforce_seed0_policy"].state_dict().values(),
                                                      both.models["a2c_seed0_policy"].state_dict().values()))


def test_a_killed_run_resumes_to_the_same_weights_and_returns(tmp_path):
    runs = [settings("reinforce"), settings("a2c")]
    whole = train(runs)
    train(runs, epochs=1, resume=tmp_path / "last.pt")  # as if killed after epoch 1
    resumed = train(runs, resume=tmp_path / "last.pt")
    assert resumed.resumed_from == 1
    assert resumed.objective.returns_table().equals(whole.objective.returns_table())
    for name, net in whole.models.items():
        for a, b in zip(net.state_dict().values(), resumed.models[name].state_dict().values()):
            assert torch.equal(a, b)


def test_policy_returns_play_one_seeded_episode_per_environment():
    torch.manual_seed(0)
    net = mlp(MLPConfig(4, 8, 2))
    with torch.no_grad():  # always push right: the pole falls within a few dozen steps
        net[-1].weight.zero_()
        net[-1].bias.copy_(torch.tensor([-20.0, 20.0]))
    returns = policy_returns(net, 6, seed=3)
    assert returns.shape == (6,) and (returns >= 8).all() and (returns < 60).all()
    assert np.array_equal(returns, policy_returns(net, 6, seed=3))
