"""Stage `rl-evaluate`: each learner against the oracle, per environment.

- FrozenLake: each greedy policy's exact probability of reaching the goal within the time limit
  (from the environment's model) and its success rate over ``rl.evaluate.episodes`` rollouts on the
  gymnasium environment with a 95% Wilson interval (the two agree within the interval: the model is
  the environment's); beside the oracle's best.
- CliffWalking: each greedy path's return and how close it runs to the cliff, and each learner's
  online return (the mean return of its training episodes, exploration included): Sutton & Barto's
  Example 6.6.
- CartPole: the episode each REINFORCE and A2C run solved the task at (running reward over 475;
  null: not within its budget), their spread over seeds, and each trained policy's return over
  ``rl.evaluate.cartpole_episodes`` episodes beside the time limit's 500.

``metrics.json`` holds the table, per seed and as means, and ``goals`` (what the pipeline's page
promises, each with its value and whether it is met); ``curves.png`` the online learning curves (mean
over seeds, smoothed), ``cliffwalking_paths.png`` the greedy paths on the grid and ``cartpole.png``
every policy-gradient run's running reward.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from stages.core.arrays import read_npz
from stages.core.figures import new_figure
from stages.core.errors import DataError
from stages.core.io import read_json, require_file
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.rl import params
from stages.rl.agents import ALGORITHMS, rollout_returns, wilson_interval
from stages.rl.policy_gradient import ALGORITHMS as PG_ALGORITHMS
from stages.rl.policy_gradient import load_policies, policy_returns, time_limit
from stages.rl.envs import ENV_IDS, greedy, greedy_path, make_env, one_cpu_thread, policy_return_within, tabular_model

log = logging.getLogger(__name__)
CLIFF_SHAPE = (4, 12)  # CliffWalking's grid: the start bottom left, the goal bottom right, the cliff between
FROZENLAKE_GOAL = 0.72  # Q-learning's greedy success on FrozenLake 4x4 (the oracle's best: 0.744)
SMOOTHING = 50  # episodes in the moving average of the learning-curve figure
CARTPOLE_EPISODES = 1000  # A2C must solve CartPole within this many episodes ...
CARTPOLE_SEEDS_SHARE = 2 / 3  # ... on at least this share of its seeds


def seeds_of(tables: dict[str, np.ndarray], env: str, algorithm: str) -> list[str]:
    """The table names of one learner on one environment, in seed order."""
    prefix = f"{env}_{algorithm}_seed"
    return sorted((k for k in tables if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))


def read_tables(path) -> dict[str, np.ndarray]:
    """Every Q-table of ``q_tables.npz``.

    Raises:
        DataError: the file is missing, or lacks a table for some environment and learner.
    """
    with np.load(require_file(path, "Q-tables npz")) as z:
        tables = {k: z[k] for k in z.files}
    missing = [f"{env}_{a}" for env in ENV_IDS for a in ALGORITHMS if not seeds_of(tables, env, a)]
    if missing:
        raise DataError(f"{path}: no Q-table for {', '.join(missing)} (found: {', '.join(sorted(tables)) or 'none'})")
    return tables


def cliff_distance(path: list[int]) -> int:
    """How many rows above the cliff the path runs at its closest over the cliff's columns (the start
    and goal columns left out): 1 is the edge, Q-learning's optimal path; more is SARSA's safer one."""
    rows, cols = CLIFF_SHAPE
    over = [s // cols for s in path if 0 < s % cols < cols - 1]
    return int(rows - 1 - max(over)) if over else 0


def frozenlake_table(tables, map_name: str, episodes: int, seed: int) -> dict:
    env = make_env("frozenlake", map_name)
    model, horizon = tabular_model(env), env.spec.max_episode_steps
    result = {}
    for algorithm in ALGORITHMS:
        runs = []
        for k, key in enumerate(seeds_of(tables, "frozenlake", algorithm)):
            policy = greedy(tables[key])
            successes = int(rollout_returns(env, policy, episodes, seed + k).sum())
            low, high = wilson_interval(successes, episodes)
            runs.append({"exact_success": policy_return_within(model, policy, horizon),
                         "rollout_success": successes / episodes, "rollout_low": low, "rollout_high": high})
        result[algorithm] = {"mean_exact_success": float(np.mean([r["exact_success"] for r in runs])),
                             "min_exact_success": float(np.min([r["exact_success"] for r in runs])), "seeds": runs}
    return result


def cliff_table(tables, returns: pd.DataFrame, model) -> tuple[dict, dict[str, list[int]]]:
    result, paths = {}, {}
    for algorithm in ALGORITHMS:
        runs = []
        for key in seeds_of(tables, "cliffwalking", algorithm):
            path, ret, ended = greedy_path(model, greedy(tables[key]), max_steps=10 * model.n_states)
            runs.append({"path_return": ret, "reaches_goal": ended, "rows_from_cliff": cliff_distance(path)})
            paths.setdefault(algorithm, path)  # the first seed's path is drawn
        online = returns[(returns["env"] == "cliffwalking") & (returns["algorithm"] == algorithm)]
        per_seed = online.groupby("seed")["return"].mean()
        for run, value in zip(runs, per_seed.to_numpy()):
            run["online_return"] = float(value)
        result[algorithm] = {"mean_online_return": float(per_seed.mean()),
                             "mean_path_return": float(np.mean([r["path_return"] for r in runs])), "seeds": runs}
    return result, paths


def cartpole_table(policy_metrics: dict, model_path, episodes: int, seed: int) -> dict:
    """Per algorithm: each seed's solving episode and its trained policy's mean return, and their spread."""
    runs = policy_metrics.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise DataError(f"policy metrics: no 'runs' table (found keys: {', '.join(sorted(policy_metrics))})")
    policies, _ = load_policies(model_path)
    result = {"reward_threshold": policy_metrics["reward_threshold"], "max_return": float(time_limit())}
    for algorithm in PG_ALGORITHMS:
        rows = []
        for name, r in runs.items():
            if r["algorithm"] != algorithm:
                continue
            if name not in policies:
                raise DataError(f"{model_path}: no policy network for run {name}")
            rows.append({"seed": r["seed"], "solved_at": r["solved_at"], "episodes": r["episodes"],
                         "policy_return": float(policy_returns(policies[name], episodes, seed + r["seed"]).mean())})
        solved = [r["solved_at"] for r in rows if r["solved_at"] is not None]
        result[algorithm] = {"seeds": rows, "solved": len(solved),
                             "solved_within_goal": sum(1 for e in solved if e <= CARTPOLE_EPISODES),
                             "mean_solved_at": float(np.mean(solved)) if solved else None,
                             "std_solved_at": float(np.std(solved, ddof=1)) if len(solved) > 1 else None,
                             "mean_policy_return": float(np.mean([r["policy_return"] for r in rows]))}
    return result


def goals(fl: dict, cw: dict, oracle: dict, map_name: str, cp: dict) -> dict:
    """The promises of docs/rl.md, each with its measured value and whether it holds."""
    q, s = cw["qlearning"], cw["sarsa"]
    out = {
        "cliff_qlearning_path_is_optimal": {
            "value": q["mean_path_return"], "met": all(r["path_return"] == oracle["cliffwalking"]["path_return"] for r in q["seeds"])},
        "cliff_sarsa_path_is_safer": {
            "value": float(np.mean([r["rows_from_cliff"] for r in s["seeds"]])),
            "met": all(r["reaches_goal"] for r in s["seeds"])  # a greedy SARSA policy can loop: it counted on ε to escape
            and min(r["rows_from_cliff"] for r in s["seeds"]) > max(r["rows_from_cliff"] for r in q["seeds"])},
        "cliff_sarsa_online_return_is_higher": {
            "value": s["mean_online_return"] - q["mean_online_return"], "met": s["mean_online_return"] > q["mean_online_return"]},
    }
    a2c = cp["a2c"]
    out["cartpole_a2c_solves"] = {"value": a2c["solved_within_goal"], "of": len(a2c["seeds"]),
                                  "goal": f"solved within {CARTPOLE_EPISODES} episodes on >= 2/3 of seeds",
                                  "met": a2c["solved_within_goal"] >= CARTPOLE_SEEDS_SHARE * len(a2c["seeds"])}
    if map_name == "4x4":
        out["frozenlake_qlearning_success"] = {"value": fl["qlearning"]["mean_exact_success"], "goal": FROZENLAKE_GOAL,
                                               "met": fl["qlearning"]["mean_exact_success"] >= FROZENLAKE_GOAL}
    return out


def curves_figure(returns: pd.DataFrame, oracle: dict):
    fig, axes = new_figure(1, 2, figsize=(10, 3.4))
    for ax, env in zip(axes, ("frozenlake", "cliffwalking")):
        for algorithm in ALGORITHMS:
            rows = returns[(returns["env"] == env) & (returns["algorithm"] == algorithm)]
            mean = rows.groupby("episode")["return"].mean()
            ax.plot(mean.index, mean.rolling(SMOOTHING, min_periods=1).mean(), label=algorithm)
        limit = oracle[env].get("best_within_limit", oracle[env].get("path_return"))
        ax.axhline(limit, color="k", ls="--", lw=1, label="oracle")
        ax.set(xlabel="episode", ylabel=f"return (moving mean of {SMOOTHING})", title=oracle[env]["env"])
        ax.legend(fontsize=8)
    if returns["env"].eq("cliffwalking").any():
        axes[1].set_ylim(max(-150.0, float(returns.loc[returns["env"] == "cliffwalking", "return"].min())), 0)
    fig.tight_layout()
    return fig


def cartpole_figure(returns: pd.DataFrame, threshold: float):
    fig, ax = new_figure(figsize=(7, 3.6))
    colors = dict(zip(PG_ALGORITHMS, ("tab:blue", "tab:orange")))
    for (algorithm, seed), rows in returns.groupby(["algorithm", "seed"], sort=True):
        ax.plot(rows["episode"], rows["running_reward"], color=colors.get(algorithm), lw=1,
                label=algorithm if seed == returns.loc[returns["algorithm"] == algorithm, "seed"].min() else None)
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"solved ({threshold:g})")
    ax.axvline(CARTPOLE_EPISODES, color="0.5", ls=":", lw=1, label=f"goal: {CARTPOLE_EPISODES} episodes")
    ax.set(xlabel="episode", ylabel="running reward", ylim=(0, 1.08 * threshold), title="CartPole-v1: one line per seed")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def paths_figure(paths: dict[str, list[int]], oracle_path: list[int]):
    from matplotlib.patches import Rectangle

    rows, cols = CLIFF_SHAPE
    fig, ax = new_figure(figsize=(8, 3))
    ax.add_patch(Rectangle((0.5, rows - 1.5), cols - 2, 1, color="0.8"))
    ax.text(cols / 2 - 0.5, rows - 1, "cliff (-100)", ha="center", va="center")
    for (label, path), offset in zip({"oracle": oracle_path, **paths}.items(), (0.0, -0.12, 0.12)):
        xs = [s % cols for s in path]
        ys = [s // cols + offset for s in path]
        ax.plot(xs, ys, marker=".", label=f"{label} ({len(path) - 1} steps)")
    ax.set(xlim=(-0.5, cols - 0.5), ylim=(rows - 0.5, -0.5), xticks=range(cols), yticks=range(rows), aspect="equal",
           title="CliffWalking: greedy paths from S (bottom left) to G (bottom right)")
    ax.legend(fontsize=8, loc="upper center", ncols=3, bbox_to_anchor=(0.5, -0.12))
    return fig


def main(stage: Declared) -> None:
    p, seed = params.load(), load_common().seed
    one_cpu_thread()
    oracle = read_json(stage.dep("oracle/metrics.json"))
    values = read_npz(stage.dep("oracle/values.npz"), keys=("cliffwalking_policy",), what="oracle values")
    tables = read_tables(stage.dep("q_tables.npz"))
    returns = pd.read_csv(stage.dep("tabular/returns.csv"))
    fl = frozenlake_table(tables, p.frozenlake.map_name, p.evaluate.episodes, seed)
    cliff_model = tabular_model(make_env("cliffwalking"))
    cw, paths = cliff_table(tables, returns, cliff_model)
    oracle_path, _, _ = greedy_path(cliff_model, values["cliffwalking_policy"], max_steps=10 * cliff_model.n_states)
    cp = cartpole_table(read_json(stage.dep("policy/metrics.json")), stage.dep("policy/model.pt"), p.evaluate.cartpole_episodes, seed)
    pg_returns = pd.read_csv(stage.dep("policy/returns.csv"))
    metrics = {"frozenlake": {"map_name": p.frozenlake.map_name, "oracle_best": oracle["frozenlake"]["best_within_limit"], **fl},
               "cliffwalking": {"oracle_path_return": oracle["cliffwalking"]["path_return"], **cw},
               "cartpole": cp,
               "frozenlake_qlearning_success": fl["qlearning"]["mean_exact_success"]}
    metrics["goals"] = goals(fl, cw, oracle, p.frozenlake.map_name, cp)
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.figure(stage.out("curves.png"), curves_figure(returns, oracle))
        out.figure(stage.out("cliffwalking_paths.png"), paths_figure(paths, oracle_path))
        out.figure(stage.out("cartpole.png"), cartpole_figure(pg_returns, cp["reward_threshold"]))
    log.info("FrozenLake %s success within the limit: Q-learning %.3f, SARSA %.3f (oracle %.3f); CliffWalking online "
             "return: Q-learning %.1f, SARSA %.1f; CartPole solved by REINFORCE on %d of %d seeds, A2C on %d of %d; goals met: %s",
             p.frozenlake.map_name, fl["qlearning"]["mean_exact_success"],
             fl["sarsa"]["mean_exact_success"], oracle["frozenlake"]["best_within_limit"], cw["qlearning"]["mean_online_return"],
             cw["sarsa"]["mean_online_return"], cp["reinforce"]["solved"], len(cp["reinforce"]["seeds"]), cp["a2c"]["solved"],
             len(cp["a2c"]["seeds"]), ", ".join(f"{k} {'yes' if v['met'] else 'NO'}" for k, v in metrics["goals"].items()))


if __name__ == "__main__":
    run_stage(main)
