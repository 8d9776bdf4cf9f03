"""Stage `rl-arena`: every tic-tac-toe agent against every other, and the self-play goals.

Agents: uniformly random moves; the perfect player (minimax, any optimal move); pure Monte-Carlo
tree search with random rollouts at each of ``rl.arena.playouts``; the trained network's raw policy
(its most probable move, no search); and the network with PUCT search at ``rl.arena.simulations``
per move. Each pair plays ``rl.arena.games`` games, half with each agent as X.

Outputs: ``arena.csv`` (one row per ordered pair: wins, draws and losses, by colour),
``arena.png`` (each agent's score against each opponent) and ``metrics.json`` with the goals: the
network with at most 50 simulations loses no game to the perfect player, and wins ≥ 95% against
random (reported beside the perfect player's own rate against random, the reference for what
optimal play alone earns).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from stages.core.checkpoint import load_models
from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.rl import params
from stages.rl.alphazero import KIND, NetConfig, NetEvaluator, PerfectAgent, PolicyAgent, PolicyValueNet, PuctAgent, RandomAgent, UctAgent, arena
from stages.rl.envs import one_cpu_thread

log = logging.getLogger(__name__)
MAX_SIMULATIONS = 50  # the goal's search budget per move
RANDOM_WIN_GOAL = 0.95  # share of games won against random


def agents_of(net, p: params.ArenaParams) -> dict:
    """The arena's agents, in the table's order."""
    evaluator = NetEvaluator(net)
    agents = {"random": RandomAgent(), "perfect": PerfectAgent()}
    agents.update({f"mcts{n}": UctAgent(n, p.uct_c) for n in p.playouts})
    agents["policy"] = PolicyAgent(evaluator)
    agents[f"puct{p.simulations}"] = PuctAgent(evaluator, p.simulations, p.c_puct)
    return agents


def row(table: pd.DataFrame, agent: str, opponent: str) -> dict:
    return table[(table["agent"] == agent) & (table["opponent"] == opponent)].iloc[0].to_dict()


def goals(table: pd.DataFrame, net_agent: str, simulations: int) -> dict:
    """The issue's two self-play goals, each with its value and whether it holds."""
    vs_perfect, vs_random = row(table, net_agent, "perfect"), row(table, net_agent, "random")
    reference = row(table, "perfect", "random")
    return {
        "selfplay_no_loss_to_perfect": {"value": int(vs_perfect["losses"]), "of": int(vs_perfect["games"]),
                                        "simulations": simulations, "met": simulations <= MAX_SIMULATIONS and vs_perfect["losses"] == 0},
        "selfplay_beats_random": {"value": vs_random["wins"] / vs_random["games"], "goal": RANDOM_WIN_GOAL,
                                  "losses": int(vs_random["losses"]), "perfect_player_reference": reference["wins"] / reference["games"],
                                  "met": simulations <= MAX_SIMULATIONS and vs_random["wins"] / vs_random["games"] >= RANDOM_WIN_GOAL},
    }


def score_figure(table: pd.DataFrame, names: list[str]):
    """Each agent's mean score against each opponent (+1 win, 0 draw, −1 loss), both colours."""
    score = np.full((len(names), len(names)), np.nan)
    for r in table.itertuples():
        score[names.index(r.agent), names.index(r.opponent)] = (r.wins - r.losses) / r.games
    fig, ax = new_figure(figsize=(1.1 * len(names) + 2, 0.8 * len(names) + 1.5))
    im = ax.imshow(score, cmap="RdBu", vmin=-1, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j:
                ax.text(j, i, f"{score[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(score[i, j]) > 0.6 else "black")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="opponent", ylabel="agent",
           title="tic-tac-toe: mean score (win +1, draw 0, loss -1)")
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    one_cpu_thread()
    p, seed = params.load().arena, load_common().seed
    (net,), _ = load_models(stage.dep("selfplay/model.pt"), KIND, lambda args: [PolicyValueNet(NetConfig(**args))], ("net",))
    agents = agents_of(net, p)
    table = pd.DataFrame(arena(agents, p.games, seed))
    net_agent = f"puct{p.simulations}"
    metrics = {"games_per_pair": p.games, "agents": list(agents), "goals": goals(table, net_agent, p.simulations),
               "mcts_losses_to_perfect": {n: int(row(table, n, "perfect")["losses"]) for n in agents if n.startswith("mcts")},
               "table": table.to_dict(orient="records")}
    with stage.outputs() as out:
        out.text(stage.out("arena.csv"), table.to_csv(index=False))
        out.json(stage.out("metrics.json"), metrics)
        out.figure(stage.out("arena.png"), score_figure(table, list(agents)))
    g = metrics["goals"]
    log.info("%s: %d of %d games lost to the perfect player; %.0f%% won against random (the perfect player: %.0f%%); "
             "pure MCTS losses to perfect: %s", net_agent, g["selfplay_no_loss_to_perfect"]["value"], p.games,
             100 * g["selfplay_beats_random"]["value"], 100 * g["selfplay_beats_random"]["perfect_player_reference"],
             ", ".join(f"{k} {v}" for k, v in metrics["mcts_losses_to_perfect"].items()))


if __name__ == "__main__":
    run_stage(main)
