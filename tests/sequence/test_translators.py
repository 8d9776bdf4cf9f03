"""The translators: teacher-forced training and step-by-step decoding compute the same thing, beam
search finds what greedy does and better, length-grouped batches, the loss, and the evaluation's
scores."""
import math

import pytest
import torch

from stages.core.side_by_side import length_grouped
from stages.sequence.evaluate import band_of, bleu, goal, samples
from stages.sequence.translators import MODELS, beam_search, build, greedy, net_args, translation_loss

SRC_V, TGT_V, BOS, EOS = 11, 13, 2, 3


def tiny(model: str, dropout: float = 0.0):
    torch.manual_seed(0)
    return build(net_args(model, SRC_V, TGT_V, emb=8, hidden=8, d_model=8, heads=2, layers=1, feedforward=16, dropout=dropout))


def batch(n: int = 5, length: int = 6):
    g = torch.Generator().manual_seed(1)
    src_len = torch.randint(2, length + 1, (n,), generator=g)
    src = torch.randint(4, SRC_V, (n, length), generator=g) * (torch.arange(length) < src_len.unsqueeze(1))
    return src, src_len


@pytest.mark.parametrize("model", MODELS)
def test_decoding_step_by_step_gives_the_teacher_forced_logits(model):
    net = tiny(model).eval()
    src, src_len = batch()
    tgt_in = torch.cat([torch.full((5, 1), BOS), torch.randint(4, TGT_V, (5, 4))], dim=1)
    with torch.no_grad():
        forced = net(src, src_len, tgt_in)
        state, steps = net.start(src, src_len), []
        for t in range(tgt_in.shape[1]):
            logits, state, alpha = net.next(state, tgt_in[:, t])
            steps.append(logits)
            if model == "attention":  # weights over the source: padding gets none
                assert torch.allclose(alpha.sum(1), torch.ones(5)) and (alpha[src == 0] == 0).all()
            else:
                assert alpha is None
    assert torch.allclose(torch.stack(steps, 1), forced, atol=1e-5)


def sequence_logp(net, src, src_len, ids):
    """log p of each row of ``ids`` (tokens up to and including <eos>) under teacher forcing."""
    out = []
    for i in range(len(src)):
        row = ids[i].tolist()
        row = row[:row.index(EOS) + 1] if EOS in row else [t for t in row if t]
        tgt_in = torch.tensor([[BOS] + row[:-1]])
        with torch.no_grad():
            logp = torch.log_softmax(net(src[i:i + 1], src_len[i:i + 1], tgt_in), -1)[0]
        out.append(float(logp[torch.arange(len(row)), row].sum()))
    return out


@pytest.mark.parametrize("model", MODELS)
def test_beam_of_one_is_greedy_and_a_wider_beam_finds_a_likelier_translation(model):
    net = tiny(model).eval()
    src, src_len = batch(n=6)
    ids, weights = greedy(net, src, src_len, BOS, EOS, 7)
    assert ids.shape == (6, 7) and weights.shape == (6, 7, 6)
    assert torch.equal(beam_search(net, src, src_len, BOS, EOS, 7, 1, 0.0), ids)
    wide = beam_search(net, src, src_len, BOS, EOS, 7, 4, 0.0)  # ranked by log p alone
    for g, b in zip(sequence_logp(net, src, src_len, ids), sequence_logp(net, src, src_len, wide)):
        assert b >= g - 1e-5
    for row in wide.tolist():  # nothing but padding after <eos>
        if EOS in row:
            assert set(row[row.index(EOS) + 1:]) <= {0}


def test_the_loss_ignores_padding_and_trimming_it_changes_nothing():
    net = tiny("plain").eval()
    src, src_len = batch()
    tgt = torch.tensor([[BOS, 5, 6, EOS, 0], [BOS, 7, EOS, 0, 0], [BOS, 8, 9, 10, EOS], [BOS, 4, EOS, 0, 0], [BOS, 5, EOS, 0, 0]])
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    pad = torch.zeros(5, 3, dtype=torch.long)
    wide = (torch.cat([src, pad], 1), src_len, torch.cat([tgt_in, pad], 1), torch.cat([tgt_out, pad], 1))
    with torch.no_grad():
        a, b = translation_loss(net, (src, src_len, tgt_in, tgt_out)), translation_loss(net, wide)
    assert float(a) == pytest.approx(float(b), abs=1e-6) and math.isfinite(float(a))


def test_length_grouped_batches_keep_every_example_once_and_group_similar_lengths():
    lengths = torch.arange(1000) % 37
    order = length_grouped(torch.randperm(1000, generator=torch.Generator().manual_seed(0)), lengths, 16,
                           torch.Generator().manual_seed(1), pool=10)
    assert sorted(order.tolist()) == list(range(1000))
    spread = [float(lengths[b].max() - lengths[b].min()) for b in order.split(16)[:-1]]
    shuffled = [float(lengths[b].max() - lengths[b].min()) for b in torch.randperm(1000).split(16)[:-1]]
    assert sum(spread) / len(spread) < 5 < 25 < sum(shuffled) / len(shuffled)  # similar lengths, not random ones
    assert len(order.split(16)[-1]) == 1000 % 16  # the one short batch comes last


def test_bleu_goal_bands_and_samples():
    ref = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "in", "the", "park"]]
    assert bleu(ref, ref) == 100.0 and bleu([["x"], ["y"]], ref) == 0.0
    assert 0 < bleu([ref[0], ["a", "dog", "ran", "in", "a", "park"]], ref) < 100
    assert [band_of(n) for n in (1, 6, 7, 12, 15, 16, 40)] == ["1-6", "1-6", "7-9", "10-12", "13-15", "16+", "16+"]
    met = goal({"attention_seed1": 5.0, "plain_seed1": 2.0, "attention_seed2": 4.0, "plain_seed2": 4.5, "transformer_seed1": 9.0})
    assert met["attention_beats_plain"]["value"] == {"1": 3.0, "2": -0.5} and not met["attention_beats_plain"]["met"]
    assert goal({"transformer_seed1": 1.0}) == {}
    import pandas as pd
    frame = pd.DataFrame({"source": list("abcde"), "reference": list("abcde"), "beam_attention": list("abxyz"),
                          "exact_attention": [True, True, False, False, False]})
    picked = samples(frame, "attention", 4)
    assert [s["source"] for s in picked] == ["a", "b", "c", "d"] and [s["right"] for s in picked] == [True, True, False, False]
