"""Schema of the ``rl:`` section of params.yaml.

No defaults here on purpose: params.yaml is the one place values live, so a key missing there is an
error naming it, not a silent fallback.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stages.core.params import Params, section_loader
from stages.core.recipe import Recipe


class FrozenLakeParams(Params):
    map_name: Literal["4x4", "8x8"]  # gymnasium's FrozenLake-v1 maps, slippery; its time limit is 100 steps


class OracleParams(Params):
    # value iteration on an infinite horizon needs γ < 1 to have a guaranteed fixed point
    gamma: float = Field(gt=0, lt=1)
    tolerance: float = Field(gt=0, le=1e-2)


class LearnerParams(Params):
    """One environment's training settings, the same for Q-learning and SARSA."""

    episodes: int = Field(ge=1, le=10_000_000)
    alpha: float = Field(gt=0, le=1)  # the step size of the TD update
    gamma: float = Field(gt=0, le=1)  # 1: undiscounted, as Sutton & Barto's CliffWalking (episodes end)
    epsilon_start: float = Field(ge=0, le=1)
    epsilon_end: float = Field(ge=0, le=1)
    decay_episodes: int = Field(ge=0, le=10_000_000)  # ε moves linearly from start to end over these

    @model_validator(mode="after")
    def _decay_fits(self) -> LearnerParams:
        if self.decay_episodes > self.episodes:
            raise ValueError(f"decay_episodes ({self.decay_episodes}) exceeds episodes ({self.episodes})")
        return self


class TabularLearningParams(Params):
    seeds: int = Field(ge=1, le=100)  # runs per learner and environment, seeds common.seed, common.seed + 1, …
    frozenlake: LearnerParams
    cliffwalking: LearnerParams


class EvaluateParams(Params):
    episodes: int = Field(ge=1, le=1_000_000)  # rollouts of each greedy policy on FrozenLake
    cartpole_episodes: int = Field(ge=1, le=100_000)  # episodes of each trained CartPole policy (one environment each)


class PolicyParams(Recipe):
    """REINFORCE and A2C on CartPole-v1 (stage `rl-policy`): the recipe (``batch_size`` is the number of
    CartPoles run side by side; ``lr`` one number or one per algorithm; ``epochs`` cut the longest
    possible run into resume checkpoints) plus the policy-gradient keys."""

    seeds: int = Field(ge=1, le=100)  # runs per algorithm, seeds common.seed, +1, …
    episodes: int = Field(ge=1, le=1_000_000)  # each run's budget; it stops earlier once solved
    hidden: int = Field(ge=1, le=4096)  # both MLPs' hidden width
    gamma: float = Field(gt=0, le=1)
    n_steps: int = Field(ge=1, le=10_000)  # A2C's rollout length per update
    value_coef: float = Field(ge=0, le=100)
    entropy_coef: float = Field(ge=0, le=10)

    @model_validator(mode="after")
    def _lr_names_algorithms(self) -> PolicyParams:
        if isinstance(self.lr, dict) and set(self.lr) != {"reinforce", "a2c"}:
            raise ValueError(f"lr must be one number or name both algorithms (reinforce, a2c), got {sorted(self.lr)}")
        return self


class SelfPlayParams(Recipe):
    """AlphaGo-Zero-style self-play on tic-tac-toe (stage `rl-selfplay`): the recipe (``batch_size``:
    positions per gradient step; ``epochs`` × ``iterations`` self-play iterations) plus the network's
    and the loop's keys (:class:`stages.rl.alphazero.SelfPlaySettings` says what each does)."""

    channels: int = Field(ge=1, le=1024)
    blocks: int = Field(ge=0, le=64)
    value_hidden: int = Field(ge=1, le=4096)
    iterations: int = Field(ge=1, le=100_000)  # self-play iterations per epoch
    games_per_iteration: int = Field(ge=1, le=100_000)
    simulations: int = Field(ge=1, le=100_000)  # PUCT simulations per self-play move
    c_puct: float = Field(gt=0, le=100)
    dirichlet_alpha: float = Field(gt=0, le=100)
    dirichlet_fraction: float = Field(ge=0, lt=1)
    temperature_moves: int = Field(ge=0, le=9)  # moves drawn in proportion to the visits (9: the whole game)
    random_openings: int = Field(ge=0, le=9)  # first moves played at random (still searched and stored)
    buffer_length: int = Field(ge=1, le=10_000_000)
    updates_per_iteration: int = Field(ge=1, le=100_000)
    augment: bool  # store the 8 symmetric copies of every position


class ArenaParams(Params):
    """Every tic-tac-toe agent against every other (stage `rl-arena`)."""

    games: int = Field(ge=2, le=100_000, multiple_of=2)  # per pair, half with each agent as X
    simulations: int = Field(ge=1, le=100_000)  # the trained network's PUCT simulations per move (the goal: at most 50)
    c_puct: float = Field(gt=0, le=100)
    playouts: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(min_length=1)  # pure MCTS agents, one per entry
    uct_c: float = Field(gt=0, le=100)  # pure MCTS's exploration constant (UCT)


class RlParams(Params):
    frozenlake: FrozenLakeParams
    oracle: OracleParams
    tabular: TabularLearningParams
    policy: PolicyParams
    selfplay: SelfPlayParams
    arena: ArenaParams
    evaluate: EvaluateParams


load = section_loader(RlParams)
