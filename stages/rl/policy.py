"""Stage `rl-policy`: REINFORCE with a learned baseline and A2C on CartPole-v1, several seeds each.

Every run (algorithm × seed, params ``rl.policy``) trains side by side in one training run of core
(:class:`~stages.core.training.TrainingRun` with a manual objective: environment rollouts, no
dataset) until it solves the task (running reward > 475) or spends its episode budget. Outputs:
``model.pt`` (every run's policy and value networks), ``returns.csv`` (every episode's return and
the running reward: the learning curves, a DVC plot), ``history.csv`` and ``metrics.json`` (per run:
the episode it solved the task at, or null). Wall-clock and environment steps per second go to the
run record.
"""
from __future__ import annotations

import logging

from stages.core.batches import Iterations
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.rl import params
from stages.rl.envs import one_cpu_thread
from stages.rl.policy_gradient import ALGORITHMS, KIND, Settings, max_updates, policy_gradient_parts, reward_threshold

log = logging.getLogger(__name__)


def run_settings(p: params.PolicyParams, seed0: int) -> list[Settings]:
    """Every run of the stage: each algorithm on seeds ``seed0 … seed0 + seeds − 1``."""
    return [Settings(algorithm=a, seed=seed0 + k, envs=p.batch_size, episodes=p.episodes, gamma=p.gamma, n_steps=p.n_steps,
                     value_coef=p.value_coef, entropy_coef=p.entropy_coef) for a in ALGORITHMS for k in range(p.seeds)]


def iterations_per_epoch(runs: list[Settings], epochs: int) -> Iterations:
    """Enough iterations (one update of every run still learning) for the longest possible run."""
    return Iterations(-(-max(max_updates(s) for s in runs) // epochs))


def main(stage: Declared) -> None:
    one_cpu_thread()
    p = params.load().policy
    run = TrainingRun(stage, p, kind=KIND)
    runs, threshold = run_settings(p, run.seed), reward_threshold()
    trainer = run.fit(**policy_gradient_parts(runs, p.hidden, p, threshold), data=iterations_per_epoch(runs, p.epochs))
    results = trainer.objective.results()
    for name, r in results.items():
        log.info("%s: %s after %d episodes (running reward %.1f)", name,
                 f"solved at episode {r['solved_at']}" if r["solved_at"] else "not solved", r["episodes"], r["running_reward"])
    table = trainer.objective.returns_table()
    run.finish(extra={"reward_threshold": threshold, "runs": results},
               write=lambda out: out.text(stage.out("returns.csv"), table.to_csv(index=False)),
               record={"env_steps": sum(r["env_steps"] for r in results.values())})


if __name__ == "__main__":
    run_stage(main)
