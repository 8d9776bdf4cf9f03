"""End to end: `dvc repro` of the rl pipeline (every stage) on smoke params; a change of the
evaluation's rollouts reruns the evaluation only, and a bad param stops the run with one line naming it."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.rl.smoke import SMOKE

STAGES = {"rl-oracle", "rl-tabular", "rl-policy", "rl-evaluate", "rl-selfplay", "rl-arena"}


@pytest.mark.e2e
@pytest.mark.slow(40)
def test_dvc_repro_rl_then_an_evaluation_change_reruns_only_the_evaluation(temp_repo):
    repo = temp_repo
    repo.set_params(SMOKE, commit="smoke params")
    assert set(repo.ran_stages(repo.dvc("repro", "rl-evaluate", "rl-arena"))) == STAGES

    art = repo.path / "artifacts/rl"
    oracle = json.loads((art / "oracle/metrics.json").read_text())
    assert oracle["frozenlake"]["best_within_limit"] == pytest.approx(0.7442, abs=1e-4)  # 4x4, 100 steps
    assert oracle["cliffwalking"]["path_return"] == -13.0
    episodes, seeds = SMOKE["rl.tabular.frozenlake.episodes"], SMOKE["rl.tabular.seeds"]
    returns = pd.read_csv(art / "tabular/returns.csv")
    fl = returns[returns["env"] == "frozenlake"]
    assert len(fl) == 2 * seeds * episodes and set(fl["return"]) <= {0.0, 1.0}
    with np.load(art / "tabular/q_tables.npz") as z:
        assert sorted(z.files) == sorted(f"{e}_{a}_seed{k}" for e in ("frozenlake", "cliffwalking")
                                         for a in ("qlearning", "sarsa") for k in range(seeds))
        assert z["frozenlake_qlearning_seed0"].shape == (16, 4) and z["cliffwalking_sarsa_seed0"].shape == (48, 4)

    metrics = json.loads((art / "evaluate/metrics.json").read_text())
    q = metrics["frozenlake"]["qlearning"]
    assert q["mean_exact_success"] <= metrics["frozenlake"]["oracle_best"] + 1e-12  # nobody beats the oracle
    run = q["seeds"][0]
    assert run["rollout_low"] <= run["rollout_success"] <= run["rollout_high"]
    assert run["rollout_success"] * SMOKE["rl.evaluate.episodes"] == pytest.approx(round(run["rollout_success"] * SMOKE["rl.evaluate.episodes"]))
    cliff = metrics["cliffwalking"]
    online = returns[returns["env"] == "cliffwalking"].groupby("algorithm")["return"].mean()
    assert cliff["sarsa"]["mean_online_return"] == pytest.approx(online["sarsa"])
    assert metrics["goals"]["cliff_sarsa_online_return_is_higher"]["met"] == (online["sarsa"] > online["qlearning"])
    assert metrics["frozenlake_qlearning_success"] == q["mean_exact_success"]  # the headline metric
    pg = pd.read_csv(art / "policy/returns.csv")
    budget = SMOKE["rl.policy.episodes"]
    assert sorted(pg.groupby(["algorithm", "seed"]).size().items()) == [(("a2c", 42), budget), (("reinforce", 42), budget)]
    cartpole = metrics["cartpole"]
    assert cartpole["reward_threshold"] == 475.0 and cartpole["a2c"]["seeds"][0]["episodes"] == budget
    assert 8 <= cartpole["reinforce"]["mean_policy_return"] <= 500
    assert metrics["goals"]["cartpole_a2c_solves"] == {"value": 0, "of": 1, "goal": "solved within 1000 episodes on >= 2/3 of seeds",
                                                       "met": False}  # 40 episodes are far too few
    for png in ("curves.png", "cliffwalking_paths.png", "cartpole.png"):
        assert (art / "evaluate" / png).stat().st_size > 10_000
    record = json.loads((repo.path / ".reprolab/runs/rl-tabular.json").read_text())
    assert record["env_steps"] == int(returns["steps"].sum()) and record["env_steps_per_s"] > 0

    arena = pd.read_csv(art / "arena/arena.csv")
    agents = ["random", "perfect", "mcts5", "policy", "puct5"]
    assert sorted(set(arena["agent"])) == sorted(agents) and len(arena) == len(agents) * (len(agents) - 1)
    assert (arena["wins"] + arena["draws"] + arena["losses"] == SMOKE["rl.arena.games"]).all()
    assert (arena.loc[arena["opponent"] == "perfect", "wins"] == 0).all()  # nobody beats minimax
    arena_metrics = json.loads((art / "arena/metrics.json").read_text())
    assert set(arena_metrics["goals"]) == {"selfplay_no_loss_to_perfect", "selfplay_beats_random"}
    assert (art / "arena/arena.png").stat().st_size > 10_000
    selfplay = json.loads((art / "selfplay/metrics.json").read_text())
    assert selfplay["games"] == SMOKE["rl.selfplay.epochs"] * SMOKE["rl.selfplay.iterations"] * SMOKE["rl.selfplay.games_per_iteration"]
    assert json.loads((repo.path / ".reprolab/runs/rl-policy.json").read_text())["env_steps"] == \
        sum(r["env_steps"] for r in json.loads((art / "policy/metrics.json").read_text())["runs"].values())
    assert repo.ran_stages(repo.dvc("repro", "rl-evaluate", "rl-arena")) == []
    repo.set_param("rl.evaluate.episodes", SMOKE["rl.evaluate.episodes"] + 1)
    assert repo.ran_stages(repo.dvc("repro", "rl-evaluate")) == ["rl-evaluate"]

    repo.set_param("rl.tabular.frozenlake.epsilon_end", 1.5)
    proc = repo.dvc("repro", "rl-evaluate", check=False)
    assert proc.returncode != 0 and "rl.tabular.frozenlake.epsilon_end" in proc.stderr
    assert "Traceback" not in proc.stderr
