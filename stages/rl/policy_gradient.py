"""Policy gradient on CartPole-v1: REINFORCE with a learned baseline, and advantage actor–critic (A2C).

Both learn a stochastic policy ``π(a|s)`` (an MLP giving action logits) and a state-value function
``V(s)`` (a second MLP), from ``B`` CartPoles run side by side (gymnasium's vectorised CartPole), with
the same networks, optimizer and loss::

    loss = −mean[log π(a_t|s_t) · A_t] + value_coef · mean[(V(s_t) − G_t)²] − entropy_coef · mean[H(π(·|s_t))]

They differ in the return ``G_t`` and advantage ``A_t`` (the policy-gradient theorem holds for any
baseline that does not depend on the action):

- **REINFORCE** plays ``B`` whole episodes, then makes one update with the Monte-Carlo return
  ``G_t = Σ_k γ^k r_{t+k}`` and ``A_t = G_t − V(s_t)``, normalised over the batch: unbiased, high variance.
- **A2C** updates every ``n_steps`` steps of the ``B`` environments with the n-step bootstrapped return
  ``G_t = r_t + … + γ^{n−1} r_{t+n−1} + γ^n V(s_{t+n})``: biased by the critic, far lower variance, and
  many more (smaller) updates per episode. An episode cut by the 500-step limit (``truncated``) still
  bootstraps from the value of its last state; only ``terminated`` zeroes it.

A run stops learning once it has **solved** the task, pytorch/examples' criterion: its running reward
(``0.05 · episode return + 0.95 · running``, from 10) exceeds the environment's reward threshold (475 for
CartPole-v1), or once its episode budget is spent. Every episode's return and the running reward go to
the stage's ``returns.csv``.

Several runs (algorithm × seed) train side by side in one :class:`PolicyGradient` objective, each with
its own networks, optimizer, environments and action generator, seeded from its own seed alone: a
run's result does not depend on which other runs share the stage.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

ALGORITHMS = ("reinforce", "a2c")
KIND = "rl-policy-gradient"  # the checkpoint's kind
CARTPOLE = "CartPole-v1"
RUNNING_START, RUNNING_WEIGHT = 10.0, 0.05  # pytorch/examples' running reward


@dataclass(frozen=True)
class MLPConfig:
    """A two-hidden-layer tanh MLP: ``inputs → hidden → hidden → outputs``."""

    inputs: int
    hidden: int
    outputs: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def mlp(cfg: MLPConfig):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(cfg.inputs, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, cfg.hidden), nn.Tanh(),
                         nn.Linear(cfg.hidden, cfg.outputs))


@dataclass(frozen=True)
class Settings:
    """One run's training settings (``rl.policy`` in params.yaml)."""

    algorithm: Literal["reinforce", "a2c"]
    seed: int
    envs: int  # CartPoles side by side: REINFORCE's episodes per update, A2C's rollouts per update
    episodes: int  # the budget: learning stops after this many episodes
    gamma: float
    n_steps: int  # A2C's rollout length per update
    value_coef: float
    entropy_coef: float

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}: expected one of {ALGORITHMS}")

    @property
    def name(self) -> str:
        return f"{self.algorithm}_seed{self.seed}"


def make_cartpole(envs: int):
    """``envs`` CartPole-v1s as one vectorised environment (gymnasium's numpy implementation; its
    500-step limit; an ended episode restarts on the next step)."""
    import gymnasium as gym

    return gym.make_vec(CARTPOLE, num_envs=envs, vectorization_mode="vector_entry_point")


def reward_threshold() -> float:
    """CartPole-v1's "solved" line, from gymnasium's registry (475)."""
    import gymnasium as gym

    return float(gym.spec(CARTPOLE).reward_threshold)


def time_limit() -> int:
    """CartPole-v1's time limit in steps, from gymnasium's registry (500): also the best return."""
    import gymnasium as gym

    return int(gym.spec(CARTPOLE).max_episode_steps)


def max_updates(s: Settings) -> int:
    """Updates a run can make before its episode budget runs out: REINFORCE one per batch of
    episodes; A2C, at most, as if every episode lasted the whole time limit."""
    if s.algorithm == "reinforce":
        return math.ceil(s.episodes / s.envs)
    return math.ceil(s.episodes * time_limit() / (s.envs * s.n_steps))


def discounted_returns(rewards: np.ndarray, gamma: float, continues: np.ndarray, bootstrap: np.ndarray) -> np.ndarray:
    """Returns of a ``[T, B]`` reward array, backwards: ``G_t = r_t + γ · continues_t · G_{t+1}``,
    with ``G_T = bootstrap`` (0 for REINFORCE's complete episodes; ``V(s_T)`` for A2C).
    ``continues_t`` is 0 where step t ended an episode (its return does not run into the next one);
    a truncated episode's bootstrap is folded into its last reward by the caller."""
    if rewards.shape != continues.shape or rewards.shape[1:] != np.shape(bootstrap):
        raise ValueError(f"rewards {rewards.shape}, continues {continues.shape} and bootstrap {np.shape(bootstrap)} disagree")
    G, acc = np.zeros_like(rewards, dtype=np.float64), np.asarray(bootstrap, dtype=np.float64)
    for t in range(len(rewards) - 1, -1, -1):
        acc = rewards[t] + gamma * continues[t] * acc
        G[t] = acc
    return G


class Run:
    """One (algorithm, seed) run: its environments, action generator and bookkeeping."""

    def __init__(self, s: Settings, threshold: float) -> None:
        import torch

        self.s, self.threshold = s, threshold
        self.env = make_cartpole(s.envs)
        self.obs, _ = self.env.reset(seed=s.seed)
        self.draws = torch.Generator().manual_seed(s.seed)
        self.valid = np.ones(s.envs, dtype=bool)  # False: the env restarts on the next step (its output is not data)
        self.ep_return = np.zeros(s.envs)
        self.running, self.episodes, self.solved_at, self.env_steps = RUNNING_START, 0, None, 0
        self.log: list[tuple[int, float, float]] = []  # (episode, return, running reward)

    @property
    def learning(self) -> bool:
        return self.solved_at is None and self.episodes < self.s.episodes

    def _end_episodes(self, ended: np.ndarray) -> None:
        for i in np.flatnonzero(ended):
            if not self.learning:
                break
            self.episodes += 1
            self.running = RUNNING_WEIGHT * self.ep_return[i] + (1 - RUNNING_WEIGHT) * self.running
            self.log.append((self.episodes, float(self.ep_return[i]), float(self.running)))
            if self.running > self.threshold:
                self.solved_at = self.episodes
            self.ep_return[i] = 0.0

    def _act(self, policy) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = policy(torch.as_tensor(self.obs, dtype=torch.float32, device=_device(policy)))
        probs = torch.softmax(logits.float(), -1).cpu()
        return torch.multinomial(probs, 1, generator=self.draws).squeeze(1).numpy()

    def rollout(self, policy, value, steps: int | None):
        """``steps`` steps of every environment (None: until each has finished one episode, REINFORCE).

        Returns ``(obs [T,B,4], actions [T,B], rewards [T,B], continues [T,B], mask [T,B])`` with
        truncated episodes' ``γ V(s_last)`` folded into their last reward, and the bootstrap value of
        the last observation (A2C) or zeros.
        """
        obs, actions, rewards, continues, mask = [], [], [], [], []
        gamma, B = self.s.gamma, self.s.envs
        finished = np.zeros(B, dtype=bool)
        while (steps is None and not finished.all()) or (steps is not None and len(obs) < steps):
            a = self._act(policy)
            nxt, r, term, trunc, _ = self.env.step(a)
            valid = self.valid & ~finished
            r = np.where(valid, r, 0.0)
            self.ep_return += r
            self.env_steps += int(valid.sum())
            cut = trunc & valid & ~term  # the time limit is not the task's end: bootstrap from V(s_last)
            if cut.any():
                r = np.where(cut, r + gamma * _values(value, nxt), r)
            obs.append(self.obs)
            actions.append(a)
            rewards.append(r)
            ended = (term | trunc) & valid
            continues.append(~ended)
            mask.append(valid)
            self._end_episodes(ended)
            self.obs, self.valid = nxt, ~(term | trunc)
            if steps is None:
                finished |= ended
            if not self.learning:
                break
        bootstrap = np.zeros(B)
        if steps is not None and self.learning:
            bootstrap = np.where(self.valid, _values(value, self.obs), 0.0)
        if steps is None:  # a REINFORCE batch: every env restarts for the next one
            self.obs, _ = self.env.reset()
            self.valid[:] = True
            self.ep_return[:] = 0.0
        return (np.stack(obs), np.stack(actions), np.stack(rewards), np.stack(continues).astype(np.float64),
                np.stack(mask), bootstrap)

    def loss(self, policy, value):
        """This run's next update: a rollout, then the loss of the module's docstring (None when the
        rollout solved the task or spent the budget: no update)."""
        import torch

        s = self.s
        obs, actions, rewards, continues, mask, bootstrap = self.rollout(policy, value, None if s.algorithm == "reinforce" else s.n_steps)
        if not self.learning:
            return None
        dev = _device(policy)
        G = torch.as_tensor(discounted_returns(rewards, s.gamma, continues, bootstrap), dtype=torch.float32, device=dev)
        m = torch.as_tensor(mask, device=dev)
        x = torch.as_tensor(obs, dtype=torch.float32, device=dev)
        logp = torch.log_softmax(policy(x).float(), -1)
        V = value(x).squeeze(-1).float()
        taken = logp.gather(-1, torch.as_tensor(actions, device=dev).long().unsqueeze(-1)).squeeze(-1)[m]
        adv = (G - V.detach())[m]
        if s.algorithm == "reinforce" and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        entropy = -(logp.exp() * logp).sum(-1)[m]
        return -(taken * adv).mean() + s.value_coef * ((V - G)[m] ** 2).mean() - s.entropy_coef * entropy.mean()

    def state_dict(self) -> dict:
        import torch

        env = self.env.unwrapped
        return {"obs": torch.as_tensor(self.obs), "valid": torch.as_tensor(self.valid), "ep_return": torch.as_tensor(self.ep_return),
                "running": float(self.running), "episodes": self.episodes, "env_steps": self.env_steps, "solved_at": -1 if self.solved_at is None else self.solved_at,
                "log": torch.tensor(self.log, dtype=torch.float64).reshape(-1, 3), "draws": self.draws.get_state(),
                "env_state": torch.as_tensor(np.asarray(env.state)), "env_elapsed": torch.as_tensor(env.steps),
                "env_prev_done": torch.as_tensor(env.prev_done), "env_rng": json.dumps(env.np_random.bit_generator.state)}

    def load_state_dict(self, st: dict) -> None:
        env = self.env.unwrapped
        self.obs, self.valid, self.ep_return = st["obs"].numpy().copy(), st["valid"].numpy().copy(), st["ep_return"].numpy().copy()
        self.running, self.episodes, self.env_steps = float(st["running"]), int(st["episodes"]), int(st["env_steps"])
        self.solved_at = None if int(st["solved_at"]) < 0 else int(st["solved_at"])
        self.log = [(int(e), float(r), float(run)) for e, r, run in st["log"].tolist()]
        self.draws.set_state(st["draws"])
        env.state, env.steps, env.prev_done = st["env_state"].numpy().copy(), st["env_elapsed"].numpy().copy(), st["env_prev_done"].numpy().copy()
        env.np_random.bit_generator.state = json.loads(st["env_rng"])


def _device(net):
    return next(net.parameters()).device


def _values(value, obs: np.ndarray) -> np.ndarray:
    """The value network's estimates of a batch of observations, as numpy (no grad)."""
    import torch

    with torch.no_grad():
        return value(torch.as_tensor(obs, dtype=torch.float32, device=_device(value))).squeeze(-1).float().cpu().numpy()


class PolicyGradient:
    """The runs' :class:`~stages.core.trainer.ManualObjective`: each iteration makes one update of every
    run still learning (optimizer ``<algorithm>_seed<k>``), and logs each run's running reward and
    episodes so far into the history."""

    def __init__(self, nets: dict, runs: list[Settings], threshold: float) -> None:
        self.nets, self.runs = nets, {s.name: Run(s, threshold) for s in runs}
        self.updates = tuple(self.runs)

    def iteration(self, index: int, step) -> None:
        for name, run in self.runs.items():
            if run.learning:
                loss = run.loss(self.nets[f"{name}_policy"], self.nets[f"{name}_value"])
                if loss is not None:
                    step.update(name, loss)
            step.log(f"running_{name}", run.running)
            step.log(f"episodes_{name}", run.episodes)

    def state_dict(self) -> dict:
        return {name: run.state_dict() for name, run in self.runs.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, run in self.runs.items():
            run.load_state_dict(state[name])

    def results(self) -> dict[str, dict[str, Any]]:
        """Per run: episodes played, the episode it was solved at (None: not within its budget), the last running reward."""
        return {name: {"algorithm": r.s.algorithm, "seed": r.s.seed, "episodes": r.episodes, "env_steps": r.env_steps, "solved_at": r.solved_at,
                       "running_reward": float(r.running)} for name, r in self.runs.items()}

    def returns_table(self):
        """Every episode of every run: algorithm, seed, episode, return, running reward (a DataFrame)."""
        import pandas as pd

        frames = [pd.DataFrame(r.log, columns=["episode", "return", "running_reward"]).assign(algorithm=r.s.algorithm, seed=r.s.seed)
                  for r in self.runs.values()]
        table = pd.concat(frames, ignore_index=True)
        return table[["algorithm", "seed", "episode", "return", "running_reward"]]


def policy_gradient_parts(runs: list[Settings], hidden: int, recipe, threshold: float) -> dict[str, Any]:
    """What ``TrainingRun.build``/``fit`` take: a policy and a value MLP per run, each initialised from
    its run's seed alone; one optimizer per run over both (``recipe.lr`` may name an algorithm); the objective."""
    import torch

    policy_cfg, value_cfg = MLPConfig(4, hidden, 2), MLPConfig(4, hidden, 1)

    def models() -> dict:
        nets = {}
        for s in runs:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s.seed)
                nets[f"{s.name}_policy"], nets[f"{s.name}_value"] = mlp(policy_cfg), mlp(value_cfg)
        return nets

    def optimizers(nets: dict) -> dict:
        return {s.name: recipe.optimizer_for([*nets[f"{s.name}_policy"].parameters(), *nets[f"{s.name}_value"].parameters()],
                                             recipe.lr_of(s.algorithm)) for s in runs}

    return {"models": models, "optimizers": optimizers, "model_args": {"policy": policy_cfg.as_dict(), "value": value_cfg.as_dict()},
            "objective": lambda nets: PolicyGradient(nets, runs, threshold)}


def policy_returns(policy, episodes: int, seed: int) -> np.ndarray:
    """The return of each of ``episodes`` CartPole episodes played by ``policy`` as it learned to act
    (actions drawn from its softmax), one episode per environment, seeded."""
    import torch

    env = make_cartpole(episodes)
    obs, _ = env.reset(seed=seed)
    draws = torch.Generator().manual_seed(seed)
    returns, running = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while running.any():
        with torch.no_grad():
            probs = torch.softmax(policy(torch.as_tensor(obs, dtype=torch.float32, device=_device(policy))).float(), -1).cpu()
        obs, r, term, trunc, _ = env.step(torch.multinomial(probs, 1, generator=draws).squeeze(1).numpy())
        returns += np.where(running, r, 0.0)
        running &= ~(term | trunc)
    env.close()
    return returns


def load_policies(path, device: str = "cpu") -> tuple[dict, dict]:
    """Every run's trained policy network from the stage's ``model.pt`` (``{run name: network}``),
    and the checkpoint."""
    from stages.core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, map_location=device, kind=KIND)
    cfg = MLPConfig(**ckpt["model_args"]["policy"])
    nets = {}
    for key, state in ckpt["models"].items():
        if key.endswith("_policy"):
            net = mlp(cfg)
            net.load_state_dict(state)
            nets[key[: -len("_policy")]] = net.eval().requires_grad_(False)
    return nets, ckpt
