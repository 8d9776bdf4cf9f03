"""The self-play pieces in process: the game and its minimax oracle, the two searches, the network,
the self-play objective through the one training run (with resume), and the arena."""
from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch

from stages.core.batches import Iterations
from stages.core.recipe import Recipe
from stages.core.trainer import ManualObjective
from stages.core.training import TrainingRun
from stages.rl.alphazero import (LINES, SYMMETRIES, NetConfig, NetEvaluator, PerfectAgent, PolicyAgent, PolicyValueNet,
                                PuctAgent, RandomAgent, SelfPlaySettings, UctAgent, arena, augment, encode, game_value,
                                legal_moves, new_board, outcome, perfect_moves, play, play_move, puct_search,
                                reachable_positions, self_play_game, selfplay_parts, settings_from, uct_search, winner)


def board(*cells: int) -> np.ndarray:
    return np.array(cells, dtype=np.int8)


# the mover (+1) holds 0 and 1 and wins at 2; the opponent (-1) holds 3 and 4 and threatens 5
MOVER_WINS_AT_2 = board(1, 1, 0, -1, -1, 0, 0, 0, 0)


def uniform(b) -> tuple[list, float]:
    """An evaluator that knows nothing: uniform priors over the empty cells, value 0."""
    empty = [m for m in range(9) if b[m] == 0]
    return [1 / len(empty) if m in empty else 0.0 for m in range(9)], 0.0


@pytest.mark.parametrize("line", LINES)
def test_winner_sees_every_line_for_either_side(line):
    b = np.zeros(9, dtype=np.int8)
    b[list(line)] = -1  # the opponent just completed it
    b[[c for c in range(9) if c not in line][:2]] = 1  # the mover's two stones elsewhere
    assert winner(b) == -1 and outcome(b) == -1 and len(legal_moves(b)) == 0
    mine = np.zeros(9, dtype=np.int8)  # the mover's line (no game hands such a board over, but winner reads it)
    mine[list(line)] = 1
    rest = [c for c in range(9) if c not in line]
    three = next(t for t in itertools.combinations(rest, 3) if t not in LINES)
    mine[list(three)] = -1
    assert winner(mine) == 1


def test_no_line_no_winner_and_a_full_board_is_a_draw():
    assert winner(new_board()) == 0 and outcome(new_board()) is None
    draw = board(-1, 1, -1, -1, 1, 1, 1, -1, -1)  # the mover (O) holds 4, the opponent (X) 5
    assert winner(draw) == 0 and outcome(draw) == 0


@pytest.mark.parametrize("bad", [board(1, 1, 1, -1, -1, -1, 0, 0, 0),  # both sides hold a line
                                 board(1, 1, 0, 0, 0, 0, 0, 0, 0),  # the mover ahead by two
                                 board(0, 0, 0, 0, 2, 0, 0, 0, 0),  # not a stone
                                 np.zeros(8, dtype=np.int8)])
def test_impossible_boards_are_refused(bad):
    with pytest.raises(ValueError):
        winner(bad)


def test_play_move_hands_the_board_over_and_refuses_illegal_moves():
    b = play_move(new_board(), 4)
    assert b.tolist() == [0, 0, 0, 0, -1, 0, 0, 0, 0]  # the next mover sees X's stone as the opponent's
    assert legal_moves(b).tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="cell 4 is taken"):
        play_move(b, 4)
    with pytest.raises(ValueError, match="a move is a cell"):
        play_move(b, 9)
    finished = play_move(MOVER_WINS_AT_2, 2)
    assert outcome(finished) == -1
    with pytest.raises(ValueError, match="game is over"):
        play_move(finished, 5)


def test_minimax_knows_tictactoe():
    assert len(reachable_positions()) == 5478
    assert game_value(new_board()) == 0 and sorted(perfect_moves(new_board()).tolist()) == list(range(9))
    assert game_value(MOVER_WINS_AT_2) == 1 and 2 in perfect_moves(MOVER_WINS_AT_2)
    # one stone down each, X in a corner: O's only moves that hold the draw are the centre
    corner = play_move(new_board(), 0)
    assert perfect_moves(corner).tolist() == [4] and game_value(play_move(corner, 1)) == 1
    with pytest.raises(ValueError, match="no perfect move"):
        perfect_moves(play_move(MOVER_WINS_AT_2, 2))


def test_symmetries_map_lines_onto_lines():
    assert len({tuple(p) for p in SYMMETRIES}) == 8
    lines = {frozenset(line) for line in LINES}
    for perm in SYMMETRIES:
        assert {frozenset(int(np.flatnonzero(perm == c)[0]) for c in line) for line in lines} == lines
    boards, pis, z = augment(MOVER_WINS_AT_2[None], np.eye(9, dtype=np.float32)[[2]], np.ones(1, np.float32))
    assert boards.shape == (8, 9) and z.tolist() == [1.0] * 8
    for b, pi in zip(boards, pis):  # the winning move travels with the board
        assert game_value(b) == 1 and int(np.argmax(pi)) in perfect_moves(b) and b[int(np.argmax(pi))] == 0


def test_perfect_player_never_loses_and_random_does():
    rows = arena({"perfect": PerfectAgent(), "random": RandomAgent()}, games=40, seed=0)
    perfect = rows[0]
    assert perfect["agent"] == "perfect" and perfect["losses"] == 0 and perfect["wins"] > 20


def test_uct_search_takes_the_immediate_win_and_refuses_bad_arguments():
    counts = uct_search(MOVER_WINS_AT_2, 200, np.random.default_rng(0))
    assert int(np.argmax(counts)) == 2 and counts.sum() == 200
    with pytest.raises(ValueError, match="playouts >= 1"):
        uct_search(MOVER_WINS_AT_2, 0, np.random.default_rng(0))


def test_puct_with_a_net_that_knows_nothing_still_wins_and_blocks():
    counts = puct_search(MOVER_WINS_AT_2, uniform, simulations=30, c_puct=1.5)
    assert int(np.argmax(counts)) == 2 and counts.sum() == 30
    threatened = board(1, 0, 0, -1, -1, 0, 1, 0, 0)  # no win for the mover; the opponent wins at 5 unless blocked
    assert int(np.argmax(puct_search(threatened, uniform, simulations=50, c_puct=1.5))) == 5
    noisy = puct_search(new_board(), uniform, 20, 1.5, np.random.default_rng(0), dirichlet_alpha=1.0, dirichlet_fraction=0.25)
    assert noisy.sum() == 20
    with pytest.raises(ValueError, match="simulations >= 1"):
        puct_search(MOVER_WINS_AT_2, uniform, simulations=0, c_puct=1.5)
    with pytest.raises(ValueError, match="needs an rng"):
        puct_search(new_board(), uniform, 5, 1.5, None, dirichlet_alpha=1.0, dirichlet_fraction=0.25)


def test_network_shapes_masking_and_the_cached_table():
    net = PolicyValueNet(NetConfig(channels=8, blocks=2, value_hidden=8))
    boards = np.stack([new_board(), MOVER_WINS_AT_2, play_move(new_board(), 4)])
    planes = encode(boards)
    assert planes.shape == (3, 3, 3, 3)
    logits, value = net(planes)
    assert logits.shape == (3, 9) and value.shape == (3,) and bool((value.abs() <= 1).all())
    p = torch.softmax(logits, dim=1)
    assert torch.equal(p[boards != 0], torch.zeros(int((boards != 0).sum())))
    assert torch.allclose(p.sum(1), torch.ones(3))
    evaluator = NetEvaluator(net)
    priors, v = evaluator(tuple(int(c) for c in MOVER_WINS_AT_2))
    assert len(priors) == 9 and priors[0] == 0.0 and sum(priors) == pytest.approx(1.0) and v == pytest.approx(float(value[1].detach()), abs=1e-6)
    with pytest.raises(ValueError, match="channels >= 1"):
        NetConfig(channels=0)
    with pytest.raises(TypeError):
        NetConfig(**{**NetConfig().as_dict(), "width": 3})  # an unknown key in model_args is an error


def test_a_self_play_game_labels_each_position_with_its_movers_result():
    settings = SelfPlaySettings(simulations=8, temperature_moves=9, random_openings=1)
    for seed in range(5):
        boards, pis, z, result = self_play_game(uniform, settings, np.random.default_rng(seed))
        assert len(boards) == len(pis) == len(z) >= 5 and np.allclose(pis.sum(1), 1.0)
        assert (pis[boards != 0] == 0).all()  # search visits only empty cells
        assert z[0] == result  # X moved first
        assert all(z[i] == -z[i + 1] for i in range(len(z) - 1))
        assert z[-1] == abs(result)  # a decided game was won by its last mover
        for before, after in zip(boards[:-1], boards[1:]):  # each position is the last one after one move
            assert ((-before != after).sum() == 1) and outcome(after) is None


def test_settings_are_checked():
    with pytest.raises(ValueError, match="simulations=0"):
        SelfPlaySettings(simulations=0)
    with pytest.raises(ValueError, match="random_openings=-1"):
        SelfPlaySettings(random_openings=-1)
    with pytest.raises(ValueError, match="unknown self-play setting"):
        settings_from({"games": 3})
    assert settings_from({"games_per_iteration": 3}).games_per_iteration == 3


TINY = SelfPlaySettings(games_per_iteration=2, simulations=4, buffer_length=100, batch_size=16, updates_per_iteration=2)


def test_self_play_trains_through_the_training_run_and_resumes_to_the_same_weights(tmp_path):
    recipe = Recipe(epochs=3, batch_size=16, optimizer="adam", lr=1e-3, weight_decay=1e-4)
    parts = selfplay_parts(NetConfig(channels=8, blocks=1, value_hidden=8), TINY)

    def train(epochs: int, resume):
        run = TrainingRun("selfplay", recipe.model_copy(update={"epochs": epochs}), kind="alphazero", device="cpu", seed=0)
        trainer = run.build(**parts, data=Iterations(2), key="k", resume=resume)
        trainer.fit(Iterations(2))
        return trainer

    whole = train(3, None)
    assert isinstance(whole.objective, ManualObjective)
    assert {"loss_net", "value_loss", "policy_loss", "game_length", "draws", "x_wins"} <= set(whole.history[-1])
    assert whole.objective.games == 3 * 2 * 2 and whole.objective.size == 100  # 12 games x >= 5 moves x 8 symmetries fill it
    buf = io.BytesIO()  # the objective's state loads as plain data
    torch.save(whole.objective.state_dict(), buf)
    buf.seek(0)
    assert set(torch.load(buf, weights_only=True)) >= {"rng", "draws", "boards", "pis", "z"}
    train(2, tmp_path / "last.pt")  # as if killed after epoch 2
    resumed = train(3, tmp_path / "last.pt")
    assert resumed.resumed_from == 2
    for a, b in zip(whole.models["net"].state_dict().values(), resumed.models["net"].state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(whole.objective.boards, resumed.objective.boards)


def test_arena_plays_every_pair_both_colours():
    net = PolicyValueNet(NetConfig(channels=8, blocks=1, value_hidden=8))
    evaluator = NetEvaluator(net)
    agents = {"random": RandomAgent(), "perfect": PerfectAgent(), "mcts10": UctAgent(10),
              "policy": PolicyAgent(evaluator), "puct8": PuctAgent(evaluator, 8, 1.5)}
    rows = arena(agents, games=4, seed=0)
    assert len(rows) == 5 * 4 and {(r["agent"], r["opponent"]) for r in rows} == {(a, b) for a in agents for b in agents if a != b}
    by_pair = {(r["agent"], r["opponent"]): r for r in rows}
    for (a, b), r in by_pair.items():
        assert r["wins"] + r["draws"] + r["losses"] == 4
        assert r["wins_x"] + r["draws_x"] + r["losses_x"] == 2 == r["wins_o"] + r["draws_o"] + r["losses_o"]
        mirror = by_pair[(b, a)]
        assert (r["wins"], r["draws"], r["losses"]) == (mirror["losses"], mirror["draws"], mirror["wins"])
        assert (r["wins_x"], r["losses_x"]) == (mirror["losses_o"], mirror["wins_o"])
    assert all(r["losses"] == 0 for r in rows if r["agent"] == "perfect")
    assert rows == arena(agents, games=4, seed=0)  # seeded
    with pytest.raises(ValueError, match="even number of games"):
        arena(agents, games=3, seed=0)


def test_play_refuses_an_agent_that_cheats():
    class Cheat:
        name = "cheat"

        def move(self, b, rng):
            return 4  # the centre, again and again

    with pytest.raises(ValueError, match="'cheat' played the illegal move 4"):
        play(Cheat(), Cheat(), np.random.default_rng(0))
