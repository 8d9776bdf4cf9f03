"""Stage `rl-oracle`: the limits the learners are measured against, by dynamic programming on the
environments' published models (no sampling).

- FrozenLake (slippery): the best probability any policy has of reaching the goal within the time
  limit (backward induction over the steps left), and value iteration's stationary optimal policy
  with its own exact success probability within the limit (4x4: 0.744 and 0.740).
- CliffWalking: value iteration's optimal values and policy; its greedy path is the optimal −13.

``values.npz`` holds each environment's optimal values and policy (the evaluation draws them);
``metrics.json`` the limits.
"""
from __future__ import annotations

import logging

from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.rl import params
from stages.rl.envs import ENV_IDS, best_within, greedy_path, make_env, policy_return_within, tabular_model, value_iteration

log = logging.getLogger(__name__)


def oracle(name: str, map_name: str, gamma: float, tolerance: float) -> tuple[dict, dict]:
    """One environment's limits (for metrics.json) and arrays (for values.npz)."""
    env = make_env(name, map_name)
    model = tabular_model(env)
    V, policy, sweeps = value_iteration(model, gamma, tolerance)
    horizon = env.spec.max_episode_steps
    metrics = {"env": env.spec.id, "gamma": gamma, "sweeps": sweeps, "start_value": float(V[model.start])}
    if horizon is not None:
        metrics.update(time_limit=horizon, best_within_limit=best_within(model, horizon),
                       policy_within_limit=policy_return_within(model, policy, horizon))
    else:  # deterministic, no time limit: the greedy path from the start
        path, ret, ended = greedy_path(model, policy, max_steps=10 * model.n_states)
        metrics.update(path_return=ret, path_steps=len(path) - 1, reaches_goal=ended)
    return metrics, {f"{name}_values": V, f"{name}_policy": policy}


def main(stage: Declared) -> None:
    p = params.load()
    metrics, arrays = {}, {}
    for name in ENV_IDS:
        metrics[name], a = oracle(name, p.frozenlake.map_name, p.oracle.gamma, p.oracle.tolerance)
        arrays.update(a)
    metrics["frozenlake"]["map_name"] = p.frozenlake.map_name
    with stage.outputs() as out:
        out.npz(stage.out("values.npz"), **arrays)
        out.json(stage.out("metrics.json"), metrics)
    fl, cw = metrics["frozenlake"], metrics["cliffwalking"]
    log.info("FrozenLake %s: best success within %d steps %.4f (value iteration's policy %.4f); CliffWalking optimal path %g",
             p.frozenlake.map_name, fl["time_limit"], fl["best_within_limit"], fl["policy_within_limit"], cw["path_return"])


if __name__ == "__main__":
    run_stage(main)
