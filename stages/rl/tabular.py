"""Stage `rl-tabular`: Q-learning and SARSA on FrozenLake and CliffWalking, several seeds each.

Both learners use the same ε-greedy schedule, step size and discount on an environment (params
``rl.tabular.<env>``), so the only difference between them is the TD target. Each run's Q-table goes
to ``q_tables.npz`` (``<env>_<algorithm>_seed<k>``) and its return per training episode to
``returns.csv`` (a DVC plot: the online learning curves). The greedy policies are evaluated by
`rl-evaluate`.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from stages.core.params import load_common
from stages.core.runs import write_run_record
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.rl import params
from stages.rl.agents import ALGORITHMS, Schedule, train_td
from stages.rl.envs import ENV_IDS, make_env

log = logging.getLogger(__name__)


def main(stage: Declared) -> None:
    p, seed0 = params.load(), load_common().seed
    tables, curves, steps = {}, [], 0
    started = time.perf_counter()
    for name in ENV_IDS:
        settings = getattr(p.tabular, name)
        schedule = Schedule(settings.epsilon_start, settings.epsilon_end, settings.decay_episodes)
        env = make_env(name, p.frozenlake.map_name)
        for algorithm in ALGORITHMS:
            for k in range(p.tabular.seeds):
                learned = train_td(env, algorithm, settings.episodes, settings.alpha, settings.gamma, schedule, seed0 + k)
                tables[f"{name}_{algorithm}_seed{k}"] = learned.Q
                steps += int(learned.lengths.sum())
                curves.append(pd.DataFrame({"env": name, "algorithm": algorithm, "seed": seed0 + k,
                                            "episode": np.arange(1, settings.episodes + 1), "return": learned.returns,
                                            "steps": learned.lengths}))
            log.info("%s %s: mean online return %.3f over %d episodes x %d seeds", name, algorithm,
                     np.mean([c["return"].mean() for c in curves[-p.tabular.seeds:]]), settings.episodes, p.tabular.seeds)
    seconds = time.perf_counter() - started
    with stage.outputs() as out:
        out.npz(stage.out("q_tables.npz"), **tables)
        out.text(stage.out("returns.csv"), pd.concat(curves, ignore_index=True).to_csv(index=False))
    write_run_record(stage.name, {"env_steps": steps, "env_steps_per_s": steps / max(seconds, 1e-9)},
                     outputs=[stage.out("q_tables.npz")])


if __name__ == "__main__":
    run_stage(main)
