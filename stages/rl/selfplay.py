"""Stage `rl-selfplay`: AlphaGo Zero's training loop at tic-tac-toe size.

One policy-value ResNet (:class:`~stages.rl.alphazero.PolicyValueNet`) plays against itself with
PUCT search guided by its own priors and values (params ``rl.selfplay``); the positions, the
search's visit distributions and the games' results are its training data. Each of the ``epochs``
× ``iterations`` iterations plays ``games_per_iteration`` games, then takes ``updates_per_iteration``
gradient steps from the replay buffer. Core's training run does the rest (seeds, optimizer, resume,
checkpoint): ``model.pt`` holds the network, ``history.csv`` the losses and the self-play games'
length and draws per epoch. `rl-arena` measures the network against the other agents.
"""
from __future__ import annotations

import logging
from dataclasses import fields

from stages.core.batches import Iterations
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.rl import params
from stages.rl.alphazero import KIND, NetConfig, SelfPlaySettings, selfplay_parts, settings_from
from stages.rl.envs import one_cpu_thread

log = logging.getLogger(__name__)


def settings_of(p: params.SelfPlayParams, seed: int) -> SelfPlaySettings:
    """The loop's settings from the params section (each of its fields from params.yaml, the seed from the run)."""
    names = {f.name for f in fields(SelfPlaySettings)} - {"seed"}
    return settings_from({**p.model_dump(include=names), "seed": seed})


def main(stage: Declared) -> None:
    one_cpu_thread()
    p = params.load().selfplay
    run = TrainingRun(stage, p, kind=KIND)
    cfg = NetConfig(channels=p.channels, blocks=p.blocks, value_hidden=p.value_hidden)
    trainer = run.fit(**selfplay_parts(cfg, settings_of(p, run.seed)), data=Iterations(p.iterations))
    games = trainer.objective.games
    log.info("%d self-play games; last epoch: mean length %.2f moves, draws %.0f%%", games,
             trainer.history[-1]["game_length"], 100 * trainer.history[-1]["draws"])
    run.finish(extra={"games": games})


if __name__ == "__main__":
    run_stage(main)
