"""sequence-word2vec: the skip-gram pairs, subsampling, the PyTorch model learning shared contexts,
and the comparison helpers."""
import numpy as np
import torch

from stages.sequence.word2vec import (build, keep_probability, neighbour_overlap, neighbours, net_args, random_pairs,
                                      sgns_loss, skipgram_pairs, unit_rows, vocabulary)


def test_the_vocabulary_is_by_count_then_word_and_rare_words_are_left_out():
    words, counts = vocabulary([["b", "a", "c"], ["a", "b", "d"], ["a"]], 2)
    assert words == ["a", "b"] and counts.tolist() == [3, 2]


def test_subsampling_keeps_rare_words_and_drops_frequent_ones_by_word2vecs_formula():
    counts = np.array([1_000_000, 1000, 10])
    keep = keep_probability(counts, 1e-3)
    f = counts / counts.sum()
    assert keep[2] == keep[1] == 1.0 and keep[0] == (np.sqrt(f[0] / 1e-3) + 1) * 1e-3 / f[0] < 0.05
    assert (keep_probability(counts, 0) == 1).all()


def test_skipgram_pairs_stay_in_their_sentence_and_window():
    corpus = [["a", "b", "c", "d"], ["e", "f"]]
    words = ["a", "b", "c", "d", "e", "f"]
    counts = np.ones(6, dtype=np.int64)
    full = skipgram_pairs(corpus, words, counts, 1, 0.0, np.random.default_rng(0))
    assert sorted(map(tuple, full.tolist())) == sorted([(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)])
    wide = skipgram_pairs(corpus, words, counts, 3, 0.0, np.random.default_rng(0))
    same_sentence = {frozenset(p) <= {0, 1, 2, 3} or frozenset(p) <= {4, 5} for p in wide.tolist()}
    assert same_sentence == {True} and (np.abs(wide[:, 0] - wide[:, 1]) <= 3).all()
    assert len(full) < len(wide) <= 2 * (3 + 2 + 1 + 1)  # each centre's window drawn from 1 to 3


def test_the_pytorch_skipgram_puts_words_of_the_same_contexts_together():
    rng = np.random.default_rng(0)
    # "cat" and "dog" share their contexts, as do "red" and "blue"; the two groups never meet
    corpus = [["the", rng.choice(["cat", "dog"]), "ran"] for _ in range(300)] + [["a", rng.choice(["red", "blue"]), "car"] for _ in range(300)]
    words, counts = vocabulary(corpus, 1)
    pairs = torch.from_numpy(skipgram_pairs(corpus, words, counts, 2, 0.0, rng))
    torch.manual_seed(0)
    noise = (counts ** 0.75 / (counts ** 0.75).sum()).tolist()
    net = build(net_args(len(words), 8, 3, noise))
    opt = torch.optim.Adam(net.parameters(), 0.05)
    for _ in range(150):
        idx = torch.randint(0, len(pairs), (64,))
        loss = sgns_loss(net, (pairs[idx, 0], pairs[idx, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    v = unit_rows(net.centre.weight.detach().numpy().astype(np.float64))
    sim = lambda a, b: float(v[words.index(a)] @ v[words.index(b)])  # noqa: E731
    assert sim("cat", "dog") > 0.5 > sim("cat", "red") and sim("red", "blue") > 0.5 > sim("dog", "blue")
    assert [w for w, _ in neighbours(v, words, "cat", 1)] == ["dog"]
    assert neighbour_overlap(v, v, np.arange(len(words)), 3) == 1.0


def test_random_pairs_are_of_two_different_words():
    pairs = random_pairs(5, 1000, np.random.default_rng(0))
    assert (pairs[:, 0] != pairs[:, 1]).all() and pairs.min() == 0 and pairs.max() == 4
