"""AlphaGo-Zero-style self-play on tic-tac-toe, measured against an exact minimax oracle.

A board is 9 cells (a numpy ``int8`` array, cell ``3 * row + col``) seen **from the point of view of
the player to move**: ``+1`` their stones, ``-1`` the opponent's, ``0`` empty. Playing a move places
a ``+1`` and negates the board, so the next mover again sees its own stones as ``+1``; every value
below (minimax, search, network) is from the mover's side: ``+1`` a win, ``0`` a draw, ``-1`` a loss.
The network then never has to learn whose turn it is.

The pieces, smallest first:

- the game (:func:`legal_moves`, :func:`play_move`, :func:`winner`, :func:`outcome`) and the 8
  symmetries of the square (:data:`SYMMETRIES`), used to augment the training positions;
- the oracle: the exact value of every reachable position by memoised minimax (5,478 positions; the
  empty board is a draw) and :func:`perfect_moves`, every move that keeps that value;
- pure Monte-Carlo tree search (UCT, uniformly random rollouts), the classical baseline;
- :class:`PolicyValueNet`, AlphaGo Zero's shape at toy size: a conv stem, residual blocks, a policy
  head (9 logits, occupied cells masked) and a tanh value head; no batch norm, because search reads
  the network one position at a time and a cached evaluation must not depend on the batch;
- :func:`puct_search`: AlphaGo Zero's search, priors from the policy head and the leaf's value from
  the value head instead of a rollout, Dirichlet noise on the root's priors in self-play;
- :class:`SelfPlay`, the training loop as a :class:`~stages.core.trainer.ManualObjective`: each
  iteration plays games against itself, keeps (position, search's visit distribution π, final result
  z) in a bounded replay buffer and takes gradient steps on ``(z - v)^2 - π · log p``;
- :func:`play` and :func:`arena`: every agent against every other, both colours.

Tic-tac-toe has only 4,520 positions where someone still has to move, so :class:`NetEvaluator`
evaluates the network on all of them in one batch the first time search asks for one, and answers
from that table until the weights change (the objective clears it after every update). Search itself
then costs dictionary look-ups, not forward passes.

Measured on one CPU core (torch 1 thread) with the defaults of :class:`SelfPlaySettings`, a
``NetConfig()`` and Adam (lr 3e-3, weight decay 1e-4) for 100 iterations (10 epochs of
``Iterations(10)``): 27-33 s of training; then PUCT at 50 simulations (``c_puct`` 1.0, greedy) over
100 games each, colours alternating, seeds 0-4: against minimax 0/100/0 (W/D/L) every time, against
random 93, 95, 94, 93 and 92 wins with no loss. Minimax itself wins only 83-90% against random (it
plays any optimal move, not the one most likely to trip a random player up). Without the random
opening move (``random_openings: 0``) seed 2 lost 16 of 100 games to minimax, all as O; its search
misplayed replies to an edge opening, which greedy self-play hardly ever met. Pure MCTS against minimax loses about 16-22, 7-13, 1-6 and 0-1 of 40 games at
25, 100, 400 and 1,600 playouts.

Inside the searches a board is a tuple of 9 ints (hashable, and cheaper to index than a small
array); the public functions take and return arrays and check them.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

KIND = "alphazero"  # the checkpoint's kind
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
LINES_THROUGH = tuple(tuple(line for line in LINES if cell in line) for cell in range(9))
EMPTY: tuple[int, ...] = (0,) * 9
Board = tuple  # a 9-tuple of -1/0/+1 from the mover's point of view (the searches' internal form)
Evaluate = Callable[[Board], tuple[list, float]]  # board → (9 move priors, value for the mover)


def _symmetries() -> np.ndarray:
    """The 8 symmetries of the square as cell permutations: ``board[perm]`` is the transformed board."""
    grid = np.arange(9).reshape(3, 3)
    out = []
    for k in range(4):
        rotated = np.rot90(grid, k)
        out += [rotated.ravel(), np.fliplr(rotated).ravel()]
    return np.stack(out)


SYMMETRIES = _symmetries()  # (8, 9)


# --------------------------------------------------------------------------------------------- game

def new_board() -> np.ndarray:
    """The empty board (X, the first player, to move)."""
    return np.zeros(9, dtype=np.int8)


def _check(board) -> Board:
    """``board`` as the internal tuple, after checking it is a position the mover can face.

    Raises:
        ValueError: not 9 cells of -1/0/+1, or stone counts no game reaches (the mover has as many
            stones as the opponent, or one fewer).
    """
    arr = np.asarray(board)
    if arr.shape != (9,) or not np.isin(arr, (-1, 0, 1)).all():
        raise ValueError(f"a board is 9 cells of -1, 0 or +1 (the mover's view); got {arr.tolist()!r}")
    mine, theirs = int((arr == 1).sum()), int((arr == -1).sum())
    if theirs - mine not in (0, 1):
        raise ValueError(f"the mover has {mine} stones and the opponent {theirs}: no game reaches that "
                         f"(the mover has as many stones as the opponent, or one fewer); got {arr.tolist()}")
    return tuple(int(v) for v in arr)


def _winner(b: Board) -> int:
    for i, j, k in LINES:
        s = b[i] + b[j] + b[k]
        if s == 3 or s == -3:
            return s // 3
    return 0


def _outcome(b: Board) -> int | None:
    """From the mover's view: -1 the opponent has just completed a line, 0 a full board, None playing on."""
    if _winner(b):
        return -1  # only the player who just moved can hold a line
    return 0 if 0 not in b else None


def _play(b: Board, move: int) -> Board:
    """Place the mover's stone and hand the board to the opponent (negated). No checks."""
    return tuple(-1 if i == move else -v for i, v in enumerate(b))


def winner(board) -> int:
    """Whose stones hold a line: +1 the mover's, -1 the opponent's, 0 nobody's.

    Raises:
        ValueError: a malformed board, or one where both sides hold a line.
    """
    b = _check(board)
    sums = {b[i] + b[j] + b[k] for i, j, k in LINES}
    if 3 in sums and -3 in sums:
        raise ValueError(f"both sides hold a line; no game reaches {list(b)}")
    return 1 if 3 in sums else -1 if -3 in sums else 0


def outcome(board) -> int | None:
    """The finished game's result for the player to move (-1: the opponent completed a line,
    0: a draw on a full board), or None while the game goes on."""
    winner(board)  # checks it
    return _outcome(_check(board))


def legal_moves(board) -> np.ndarray:
    """The empty cells, in order (none once the game is over)."""
    b = _check(board)
    if _outcome(b) is not None:
        return np.zeros(0, dtype=np.int64)
    return np.array([i for i, v in enumerate(b) if v == 0], dtype=np.int64)


def play_move(board, move: int) -> np.ndarray:
    """The board after the mover plays ``move``, seen by the next mover (a new array).

    Raises:
        ValueError: the game is over, ``move`` is not a cell, or the cell is taken.
    """
    b = _check(board)
    if _outcome(b) is not None:
        raise ValueError(f"the game is over; no move can be played on {list(b)}")
    if not (isinstance(move, (int, np.integer)) and 0 <= move < 9):
        raise ValueError(f"a move is a cell 0..8; got {move!r}")
    if b[move] != 0:
        raise ValueError(f"cell {move} is taken on {list(b)}")
    return np.array(_play(b, int(move)), dtype=np.int8)


# ------------------------------------------------------------------------------------------- oracle

_VALUES: dict[Board, int] = {}  # minimax values, filled on first use


def _value(b: Board) -> int:
    """Exact minimax value for the mover (memoised in ``_VALUES``)."""
    v = _VALUES.get(b)
    if v is None:
        o = _outcome(b)
        v = o if o is not None else max(-_value(_play(b, m)) for m in range(9) if b[m] == 0)
        _VALUES[b] = v
    return v


def game_value(board) -> int:
    """The position's value for the mover under perfect play by both sides (+1, 0 or -1)."""
    return _value(_check(board))


def _perfect(b: Board) -> list[int]:
    best = _value(b)
    return [m for m in range(9) if b[m] == 0 and -_value(_play(b, m)) == best]


def perfect_moves(board) -> np.ndarray:
    """Every move that keeps the position's minimax value.

    Raises:
        ValueError: the game is over (there is no move).
    """
    b = _check(board)
    if _outcome(b) is not None:
        raise ValueError(f"the game is over; there is no perfect move on {list(b)}")
    return np.array(_perfect(b), dtype=np.int64)


@lru_cache(maxsize=1)
def reachable_positions() -> tuple[Board, ...]:
    """Every position a game reaches from the empty board (terminal ones included), in the order a
    breadth-first walk meets them: 5,478 of them."""
    seen, frontier = {EMPTY: None}, [EMPTY]
    while frontier:
        nxt = []
        for b in frontier:
            if _outcome(b) is None:
                for m in range(9):
                    if b[m] == 0:
                        c = _play(b, m)
                        if c not in seen:
                            seen[c] = None
                            nxt.append(c)
        frontier = nxt
    return tuple(seen)


@lru_cache(maxsize=1)
def _open_positions() -> tuple[tuple[Board, ...], np.ndarray]:
    """The reachable positions where someone still moves, as tuples and as an (N, 9) int8 array."""
    boards = tuple(b for b in reachable_positions() if _outcome(b) is None)
    return boards, np.array(boards, dtype=np.int8)


# ----------------------------------------------------------------------------------------- pure MCTS

def random_rollout(b: Board, rng: np.random.Generator) -> int:
    """Finish the game with uniformly random moves; the result for ``b``'s mover. Playing the empty
    cells in one random order is the same distribution as drawing each move uniformly."""
    o = _outcome(b)
    if o is not None:
        return o
    cells = list(b)
    empties = [i for i, v in enumerate(cells) if v == 0]
    sign = 1  # whose stone goes down next, in b's mover's terms
    for m in rng.permutation(empties).tolist():
        cells[m] = sign
        for i, j, k in LINES_THROUGH[m]:
            if cells[i] + cells[j] + cells[k] == 3 * sign:
                return sign
        sign = -sign
    return 0


class _UctNode:
    __slots__ = ("board", "moves", "n", "w", "children", "visits", "terminal")

    def __init__(self, board: Board) -> None:
        self.board = board
        self.terminal = _outcome(board)
        self.moves = [m for m in range(9) if board[m] == 0] if self.terminal is None else []
        self.n, self.w = [0] * 9, [0.0] * 9
        self.children: dict[int, _UctNode] = {}
        self.visits = 0


def uct_search(board, playouts: int, rng: np.random.Generator, c: float = 1.4) -> np.ndarray:
    """Pure Monte-Carlo tree search (UCT): ``playouts`` times, descend by UCB1
    (``Q + c sqrt(ln N / n)``, untried moves first, in random order), add one node, finish the game
    with a random rollout and back the result up. Returns the root's visit counts (9,).

    Raises:
        ValueError: ``playouts`` < 1, or the game is over.
    """
    if playouts < 1:
        raise ValueError(f"uct_search needs playouts >= 1; got {playouts}")
    b = _check(board)
    if _outcome(b) is not None:
        raise ValueError(f"the game is over; nothing to search on {list(b)}")
    root = _UctNode(b)
    for _ in range(playouts):
        node, path = root, []
        while node.terminal is None:
            untried = [m for m in node.moves if m not in node.children]
            if untried:
                m = untried[int(rng.integers(len(untried)))]
                child = node.children[m] = _UctNode(_play(node.board, m))
                path.append((node, m))
                node = child
                break
            log_n = math.log(node.visits)
            m = max(node.moves, key=lambda a: node.w[a] / node.n[a] + c * math.sqrt(log_n / node.n[a]))
            path.append((node, m))
            node = node.children[m]
        v = node.terminal if node.terminal is not None else random_rollout(node.board, rng)
        node.visits += 1
        for parent, m in reversed(path):
            v = -v  # the parent's mover sees the child's result negated
            parent.n[m] += 1
            parent.w[m] += v
            parent.visits += 1
    return np.array(root.n, dtype=np.int64)


def _most_visited(counts, rng: np.random.Generator) -> int:
    counts = np.asarray(counts)
    best = np.flatnonzero(counts == counts.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


# ---------------------------------------------------------------------------------------- network

@dataclass(frozen=True)
class NetConfig:
    """What :class:`PolicyValueNet` is built from (stored in the checkpoint as ``model_args``).

    Attributes:
        channels: width of the stem and the residual blocks.
        blocks: residual blocks after the stem.
        value_hidden: width of the value head's hidden layer.
    """

    channels: int = 32
    blocks: int = 1
    value_hidden: int = 32

    def __post_init__(self) -> None:
        if self.channels < 1 or self.blocks < 0 or self.value_hidden < 1:
            raise ValueError(f"NetConfig needs channels >= 1, blocks >= 0, value_hidden >= 1; got {self}")

    def as_dict(self) -> dict:
        return asdict(self)


def encode(boards: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, 9) mover-view boards → (B, 3, 3, 3) planes: the mover's stones, the opponent's, ones (so
    the convolutions see the board's edge against their zero padding, as AlphaGo Zero's constant plane)."""
    b = torch.as_tensor(np.asarray(boards) if not isinstance(boards, torch.Tensor) else boards)
    b = b.reshape(-1, 3, 3)
    return torch.stack([(b == 1).float(), (b == -1).float(), torch.ones_like(b, dtype=torch.float32)], dim=1)


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class PolicyValueNet(nn.Module):
    """AlphaGo Zero's two-headed residual network at tic-tac-toe size.

    ``forward(planes)`` takes :func:`encode`'s (B, 3, 3, 3) and returns ``(logits, value)``: (B, 9)
    move logits with occupied cells set to -1e9 (probability 0 after a softmax, yet finite so that
    ``π · log p`` stays 0 where π is) and a (B,) value in [-1, 1] for the mover.
    """

    MASKED = -1e9

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg, c = cfg, cfg.channels
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.Sequential(*[_Residual(c) for _ in range(cfg.blocks)])
        self.policy_conv, self.policy_fc = nn.Conv2d(c, 2, 1), nn.Linear(2 * 9, 9)
        self.value_conv = nn.Conv2d(c, 1, 1)
        self.value_fc = nn.Sequential(nn.Linear(9, cfg.value_hidden), nn.ReLU(), nn.Linear(cfg.value_hidden, 1))

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(F.relu(self.stem(planes)))                        # (B, c, 3, 3)
        logits = self.policy_fc(F.relu(self.policy_conv(h)).flatten(1))   # (B, 9)
        occupied = (planes[:, 0] + planes[:, 1]).flatten(1) > 0           # (B, 9)
        logits = logits.masked_fill(occupied, self.MASKED)
        value = torch.tanh(self.value_fc(F.relu(self.value_conv(h)).flatten(1))).squeeze(1)  # (B,)
        return logits, value


class NetEvaluator:
    """The network as search reads it: ``evaluator(board) → (priors, value)`` for one internal board.

    The first call evaluates all 4,520 open positions in one batch (no grad) and answers from that
    table afterwards; :meth:`clear` after every change of the weights.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self._table: dict[Board, tuple[list, float]] | None = None

    def clear(self) -> None:
        self._table = None

    def __call__(self, b: Board) -> tuple[list, float]:
        if self._table is None:
            boards, arr = _open_positions()
            device = next(self.net.parameters()).device
            with torch.no_grad():
                logits, value = self.net(encode(arr).to(device))
                priors = torch.softmax(logits.float(), dim=1).cpu().tolist()
                values = value.float().cpu().tolist()
            self._table = dict(zip(boards, zip(priors, values)))
        return self._table[b]


# ------------------------------------------------------------------------------------------- PUCT

class _PuctNode:
    __slots__ = ("board", "moves", "prior", "n", "w", "children", "visits")

    def __init__(self, board: Board, prior: list) -> None:
        self.board, self.prior = board, prior
        self.moves = [m for m in range(9) if board[m] == 0]
        self.n, self.w = [0] * 9, [0.0] * 9
        self.children: dict[int, _PuctNode | int] = {}  # an int child: a finished game's result for its mover
        self.visits = 1  # the expansion counts, so the first selection already follows the priors


def puct_search(board, evaluate: Evaluate, simulations: int, c_puct: float, rng: np.random.Generator | None = None,
                dirichlet_alpha: float = 0.0, dirichlet_fraction: float = 0.0) -> np.ndarray:
    """AlphaGo Zero's search: the root is expanded with the network's priors (mixed with
    ``Dir(alpha)`` noise at ``dirichlet_fraction`` when that is > 0), then ``simulations`` times it
    descends by ``Q + c_puct P sqrt(N) / (1 + n)`` (an unvisited move's Q is 0), expands one new
    position with the network's priors and backs up the value head's estimate (a finished game backs
    up its result). Returns the root's visit counts (9,), summing to ``simulations``.

    Args:
        board: the position (array or internal tuple), mover's view.
        evaluate: board tuple → (9 priors, value for the mover); a :class:`NetEvaluator`.
        rng: draws the Dirichlet noise (needed only with noise).

    Raises:
        ValueError: ``simulations`` < 1, ``c_puct`` <= 0, noise without an ``rng``, or the game is over.
    """
    if simulations < 1 or c_puct <= 0:
        raise ValueError(f"puct_search needs simulations >= 1 and c_puct > 0; got {simulations}, {c_puct}")
    b = board if isinstance(board, tuple) else _check(board)
    if _outcome(b) is not None:
        raise ValueError(f"the game is over; nothing to search on {list(b)}")
    root = _PuctNode(b, list(evaluate(b)[0]))
    if dirichlet_fraction > 0:
        if rng is None or dirichlet_alpha <= 0:
            raise ValueError("root noise needs an rng and dirichlet_alpha > 0")
        noise = rng.dirichlet([dirichlet_alpha] * len(root.moves))
        for m, eta in zip(root.moves, noise.tolist()):
            root.prior[m] = (1 - dirichlet_fraction) * root.prior[m] + dirichlet_fraction * eta
    for _ in range(simulations):
        node, path = root, []
        while True:
            sqrt_n = math.sqrt(node.visits)
            n, w, p = node.n, node.w, node.prior
            m = max(node.moves, key=lambda a: (w[a] / n[a] if n[a] else 0.0) + c_puct * p[a] * sqrt_n / (1 + n[a]))
            path.append((node, m))
            child = node.children.get(m)
            if child is None:  # a new position: the game's result or the network's estimate
                nb = _play(node.board, m)
                o = _outcome(nb)
                if o is not None:
                    node.children[m], v = o, o
                else:
                    priors, v = evaluate(nb)
                    node.children[m] = _PuctNode(nb, priors)
                break
            if isinstance(child, int):
                v = child
                break
            node = child
        for parent, m in reversed(path):  # v is for the mover of the position below parent
            v = -v
            parent.n[m] += 1
            parent.w[m] += v
            parent.visits += 1
    return np.array(root.n, dtype=np.int64)


# --------------------------------------------------------------------------------------- agents

class Agent(Protocol):
    """Anything that plays: a name and ``move(board, rng) -> cell`` (board in the mover's view)."""

    name: str

    def move(self, board: np.ndarray, rng: np.random.Generator) -> int: ...


@dataclass
class RandomAgent:
    """Uniformly random legal moves."""

    name: str = "random"

    def move(self, board, rng) -> int:
        moves = legal_moves(board)
        return int(moves[rng.integers(len(moves))])


@dataclass
class PerfectAgent:
    """Minimax: one of the optimal moves, drawn uniformly (so its games vary)."""

    name: str = "perfect"

    def move(self, board, rng) -> int:
        moves = perfect_moves(board)
        return int(moves[rng.integers(len(moves))])


@dataclass
class UctAgent:
    """Pure MCTS with random rollouts: the most visited move after ``playouts`` playouts."""

    playouts: int
    c: float = 1.4
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"mcts{self.playouts}"

    def move(self, board, rng) -> int:
        return _most_visited(uct_search(board, self.playouts, rng, self.c), rng)


class PolicyAgent:
    """The raw policy head: its most probable legal move, no search."""

    def __init__(self, evaluator: NetEvaluator, name: str = "policy") -> None:
        self.evaluator, self.name = evaluator, name

    def move(self, board, rng) -> int:
        priors = np.asarray(self.evaluator(_check(board))[0])
        return _most_visited(priors, rng)


class PuctAgent:
    """The network with PUCT search, as in evaluation: no noise, the most visited move."""

    def __init__(self, evaluator: NetEvaluator, simulations: int, c_puct: float, name: str = "") -> None:
        self.evaluator, self.simulations, self.c_puct = evaluator, simulations, c_puct
        self.name = name or f"puct{simulations}"

    def move(self, board, rng) -> int:
        return _most_visited(puct_search(_check(board), self.evaluator, self.simulations, self.c_puct), rng)


def play(agent_x: Agent, agent_o: Agent, rng: np.random.Generator) -> int:
    """One game; the result for X (who moves first): +1, 0 or -1.

    Raises:
        ValueError: an agent chose an illegal move (names it).
    """
    board, turn = EMPTY, 0
    while True:
        agent = agent_x if turn % 2 == 0 else agent_o
        m = agent.move(np.array(board, dtype=np.int8), rng)
        if not (isinstance(m, (int, np.integer)) and 0 <= m < 9 and board[m] == 0):
            raise ValueError(f"agent {agent.name!r} played the illegal move {m!r} on {list(board)}")
        board, turn = _play(board, int(m)), turn + 1
        o = _outcome(board)
        if o is not None:  # o is for the next mover; X moves when turn is even
            return o if turn % 2 == 0 else -o


def arena(agents: Mapping[str, Agent], games: int, seed: int) -> list[dict]:
    """Every agent against every other, ``games`` games a pair, half with each as X.

    Returns one row per ordered pair (agent, opponent): ``games``, ``wins``/``draws``/``losses`` of
    ``agent`` and the same split by colour (``*_x``: ``agent`` moved first). The rows of (a, b) and
    (b, a) mirror each other. Pair i draws from its own generator (``SeedSequence(seed)``'s i-th
    child), so adding an agent does not change the other pairs' games.

    Raises:
        ValueError: fewer than two agents, or ``games`` odd or < 2.
    """
    names = list(agents)
    if len(names) < 2 or games < 2 or games % 2:
        raise ValueError(f"arena needs two agents or more and an even number of games >= 2; "
                         f"got {len(names)} agents, games={games}")
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    rows = []
    for (a, b), child in zip(pairs, np.random.SeedSequence(seed).spawn(len(pairs))):
        rng = np.random.default_rng(child)
        # a's results by colour: index 0 win, 1 draw, 2 loss
        as_x, as_o = [0, 0, 0], [0, 0, 0]
        for g in range(games):
            if g % 2 == 0:
                r = play(agents[a], agents[b], rng)
                as_x[1 - r] += 1
            else:
                r = -play(agents[b], agents[a], rng)
                as_o[1 - r] += 1
        for me, other, x, o in ((a, b, as_x, as_o), (b, a, as_o[::-1], as_x[::-1])):
            rows.append({"agent": me, "opponent": other, "games": games,
                         "wins": x[0] + o[0], "draws": x[1] + o[1], "losses": x[2] + o[2],
                         "wins_x": x[0], "draws_x": x[1], "losses_x": x[2],
                         "wins_o": o[0], "draws_o": o[1], "losses_o": o[2]})
    return rows


# ------------------------------------------------------------------------------------ self-play

@dataclass(frozen=True)
class SelfPlaySettings:
    """The self-play loop's settings (the stage maps them from params.yaml).

    Attributes:
        games_per_iteration: self-play games per iteration (before its gradient steps).
        simulations: PUCT simulations per move in self-play.
        c_puct: exploration constant of PUCT.
        dirichlet_alpha, dirichlet_fraction: root noise ``(1 - f) P + f Dir(alpha)`` in self-play.
        temperature_moves: the first moves of a game are drawn in proportion to the visit counts,
            later ones are the most visited.
        random_openings: the first moves of a game are played uniformly at random (each position
            is still searched and stored with its visit distribution): greedy self-play rarely
            meets the openings a minimax player chooses among (an edge, say), and its value head
            is then wrong there.
        buffer_length: positions the replay buffer keeps (the oldest go first).
        batch_size: positions per gradient step.
        updates_per_iteration: gradient steps per iteration.
        augment: store all 8 symmetric copies of each position.
        seed: seeds the self-play and minibatch generators (the stage passes the run's seed).
    """

    games_per_iteration: int = 40
    simulations: int = 25
    c_puct: float = 1.5
    dirichlet_alpha: float = 1.0
    dirichlet_fraction: float = 0.25
    temperature_moves: int = 9  # the whole game
    random_openings: int = 1
    buffer_length: int = 20_000
    batch_size: int = 128
    updates_per_iteration: int = 20
    augment: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("games_per_iteration", "simulations", "buffer_length", "batch_size", "updates_per_iteration")
        bad = [f"{k}={getattr(self, k)}" for k in positive if getattr(self, k) < 1]
        if self.c_puct <= 0 or not 0 <= self.dirichlet_fraction < 1 or self.dirichlet_alpha <= 0 or self.temperature_moves < 0 \
                or self.random_openings < 0:
            bad.append(f"c_puct={self.c_puct}, dirichlet_alpha={self.dirichlet_alpha}, "
                       f"dirichlet_fraction={self.dirichlet_fraction}, temperature_moves={self.temperature_moves}, "
                       f"random_openings={self.random_openings}")
        if bad:
            raise ValueError(f"SelfPlaySettings out of range (counts >= 1, c_puct > 0, alpha > 0, "
                             f"0 <= fraction < 1, temperature_moves and random_openings >= 0): {', '.join(bad)}")

    def as_dict(self) -> dict:
        return asdict(self)


def self_play_game(evaluate: Evaluate, settings: SelfPlaySettings, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One game of the network against itself.

    Returns:
        boards (T, 9) int8 (mover's view), π (T, 9) float32 (each search's visit distribution),
        z (T,) float32 (the final result for each position's mover), and the result for X.
    """
    s = settings
    board, boards, pis = EMPTY, [], []
    while True:
        counts = puct_search(board, evaluate, s.simulations, s.c_puct, rng, s.dirichlet_alpha, s.dirichlet_fraction)
        pi = counts / counts.sum()
        if len(boards) < s.random_openings:
            empty = [c for c in range(9) if board[c] == 0]
            m = empty[int(rng.integers(len(empty)))]
        elif len(boards) < s.temperature_moves:
            m = int(rng.choice(9, p=pi))
        else:
            m = _most_visited(counts, rng)
        boards.append(board)
        pis.append(pi)
        board = _play(board, m)
        o = _outcome(board)
        if o is not None:
            break
    t = len(boards)  # o is for the mover at ply t; ply i is an even distance from it or an odd one
    z = np.array([o if (t - i) % 2 == 0 else -o for i in range(t)], dtype=np.float32)
    return np.array(boards, dtype=np.int8), np.array(pis, dtype=np.float32), z, (o if t % 2 == 0 else -o)


def augment(boards: np.ndarray, pis: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8 symmetric copies of each (board, π, z): (8T, 9), (8T, 9), (8T,)."""
    return (boards[:, SYMMETRIES].reshape(-1, 9), pis[:, SYMMETRIES].reshape(-1, 9),
            np.repeat(z[:, None], len(SYMMETRIES), axis=1).reshape(-1))


def selfplay_loss(net: nn.Module, boards: torch.Tensor, pis: torch.Tensor, z: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AlphaGo Zero's loss without its L2 term (the optimizer's weight decay):
    ``mean((z - v)^2) + mean(-π · log p)``. Returns (loss, value part, policy part)."""
    logits, v = net(encode(boards))
    value_loss = F.mse_loss(v, z)
    policy_loss = -(pis * F.log_softmax(logits, dim=1)).sum(1).mean()
    return value_loss + policy_loss, value_loss, policy_loss


class SelfPlay:
    """The self-play loop as a :class:`~stages.core.trainer.ManualObjective` (``data=Iterations(n)``).

    Each ``iteration(index, step)`` plays ``games_per_iteration`` games with the current weights,
    adds their positions to the replay buffer and takes ``updates_per_iteration`` gradient steps on
    minibatches drawn from it. It logs the mean game length, the share of draws and X's wins in
    self-play, and the loss's two parts. Its state (the generators and the buffer) goes into the
    checkpoint as plain tensors, ints and a JSON string, so a resumed run ends with the same weights.
    """

    updates = ("net",)

    def __init__(self, net: nn.Module, settings: SelfPlaySettings) -> None:
        self.net, self.settings = net, settings
        self.evaluator = NetEvaluator(net)
        self.rng = np.random.default_rng(settings.seed)  # games and root noise
        self.draws = torch.Generator().manual_seed(settings.seed)  # minibatch indices
        n = settings.buffer_length
        self.boards, self.pis, self.z = np.zeros((n, 9), np.int8), np.zeros((n, 9), np.float32), np.zeros(n, np.float32)
        self.size, self.head, self.games = 0, 0, 0

    def _add(self, boards: np.ndarray, pis: np.ndarray, z: np.ndarray) -> None:
        n = len(self.z)
        for i in range(0, len(z), n):  # a chunk longer than the buffer keeps its newest part
            idx = (self.head + np.arange(len(z[i:i + n]))) % n
            self.boards[idx], self.pis[idx], self.z[idx] = boards[i:i + n], pis[i:i + n], z[i:i + n]
            self.head, self.size = int((idx[-1] + 1) % n), min(n, self.size + len(idx))

    def iteration(self, index: int, step) -> None:
        s = self.settings
        self.evaluator.clear()  # the weights may have come from a checkpoint
        self.net.eval()
        lengths, results = [], []
        for _ in range(s.games_per_iteration):
            boards, pis, z, result = self_play_game(self.evaluator, s, self.rng)
            if s.augment:
                boards, pis, z = augment(boards, pis, z)
            self._add(boards, pis, z)
            lengths.append(len(z) // (8 if s.augment else 1))
            results.append(result)
        self.games += s.games_per_iteration
        self.net.train()
        device = step.device
        for _ in range(s.updates_per_iteration):
            idx = torch.randint(self.size, (min(s.batch_size, self.size),), generator=self.draws).numpy()
            with step.autocast():
                loss, value_loss, policy_loss = selfplay_loss(
                    self.net, torch.from_numpy(self.boards[idx]).to(device), torch.from_numpy(self.pis[idx]).to(device),
                    torch.from_numpy(self.z[idx]).to(device))
            step.update("net", loss)
            self.evaluator.clear()
            step.log("value_loss", value_loss.detach())
            step.log("policy_loss", policy_loss.detach())
        step.log("game_length", float(np.mean(lengths)))
        step.log("draws", float(np.mean(np.array(results) == 0)))
        step.log("x_wins", float(np.mean(np.array(results) == 1)))
        step.log("buffer", float(self.size))

    def state_dict(self) -> dict:
        return {"rng": json.dumps(self.rng.bit_generator.state), "draws": self.draws.get_state(),
                "boards": torch.from_numpy(self.boards.copy()), "pis": torch.from_numpy(self.pis.copy()),
                "z": torch.from_numpy(self.z.copy()), "size": self.size, "head": self.head, "games": self.games}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.draws.set_state(state["draws"].cpu())
        if state["boards"].shape[0] != len(self.z):
            raise ValueError(f"the checkpoint's replay buffer holds {state['boards'].shape[0]} positions, "
                             f"these settings {len(self.z)}")
        self.boards, self.pis, self.z = (state[k].cpu().numpy().copy() for k in ("boards", "pis", "z"))
        self.size, self.head, self.games = int(state["size"]), int(state["head"]), int(state["games"])
        self.evaluator.clear()


def selfplay_parts(cfg: NetConfig, settings: SelfPlaySettings) -> dict:
    """What the run declares (``TrainingRun.build/fit(**parts, data=Iterations(n))``): the network,
    its config, and the self-play objective (optimizer ``net``)."""
    return {"models": lambda: {"net": PolicyValueNet(cfg)}, "model_args": cfg.as_dict(),
            "objective": lambda nets: SelfPlay(nets["net"], settings)}


def settings_from(values: Mapping[str, Any]) -> SelfPlaySettings:
    """:class:`SelfPlaySettings` from a mapping; an unknown key is an error naming the known ones."""
    known = {f.name for f in fields(SelfPlaySettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown self-play setting(s) {unknown}: expected some of {sorted(known)}")
    return SelfPlaySettings(**values)
