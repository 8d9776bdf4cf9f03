import datetime as dt

import numpy as np
import pytest
import torch

from stages.sequence.date_formats import FORMATS, generate, ordinal
from stages.core.side_by_side import variant_of
from stages.sequence.dates import ATTENTION_GOAL, PLAIN_CEILING, encode, position_accuracy, summary
from stages.sequence.seq2seq import build, greedy, net_args, sequence_loss
from stages.sequence.vocab import BOS, EOS, PAD, UNK, Vocab, encode_padded


def test_every_format_of_one_date():
    d = dt.date(1987, 5, 3)  # a Sunday
    assert {name: f(d) for name, f in FORMATS.items()} == {
        "d_month_y": "3 May 1987", "month_d_y": "May 3, 1987", "dd_mon_y": "03 May 1987", "mon_d_y": "May 3 1987",
        "weekday": "Sunday, 3 May 1987", "wkd_mon": "Sun May 3 1987", "ordinal": "the 3rd of May 1987",
        "upper": "3 MAY 1987", "lower": "may 3 1987", "us": "5/3/1987", "dots": "3.5.1987", "compact": "19870503"}
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_generated_dates_are_seeded_in_range_and_their_iso_is_the_date():
    texts, isos, formats = generate(np.random.default_rng(0), 300)
    assert (texts, isos, formats) == generate(np.random.default_rng(0), 300)
    assert set(formats) == set(FORMATS)
    for text, iso, fmt in zip(texts, isos, formats):
        d = dt.date.fromisoformat(iso)
        assert dt.date(1900, 1, 1) <= d <= dt.date(2099, 12, 31) and FORMATS[fmt](d) == text
    with pytest.raises(ValueError, match="unknown date format"):
        generate(np.random.default_rng(0), 3, ["iso", "us"])


def test_a_vocabulary_is_fitted_on_its_sequences_with_the_specials_first():
    v = Vocab.fit([list("abca"), list("cb")])
    assert v.tokens == [PAD, UNK, BOS, EOS, "a", "b", "c"]  # by count, ties by token
    assert v.ids(list("az")) == [4, 1] and v.unknown_rate([list("az")]) == 0.5
    x, n = encode_padded(v, [list("ab"), list("c")], bos=True, eos=True)
    assert x.tolist() == [[2, 4, 5, 3], [2, 6, 3, 0]] and n.tolist() == [4, 3]
    assert v.decode([4, 5, 3, 6]) == ["a", "b"]
    with pytest.raises(ValueError, match="more than 2"):
        encode_padded(v, [list("abc")], length=2)
    with pytest.raises(ValueError, match="starts with"):
        Vocab(["a", PAD])


@pytest.mark.parametrize("attention", [True, False])
def test_the_seq2seq_shapes_and_its_attention_over_real_characters_only(attention):
    texts, isos, _ = generate(np.random.default_rng(1), 6)
    src_v, tgt_v = Vocab.fit([list(t) for t in texts]), Vocab.fit([list(s) for s in isos])
    src, src_len, tgt_in, tgt_out = encode(texts, isos, src_v, tgt_v, 30)
    torch.manual_seed(0)
    net = build(net_args(len(src_v), len(tgt_v), 8, 12, attention))
    assert net(src, src_len, tgt_in).shape == (6, 11, len(tgt_v))
    loss = sequence_loss(net, (src, src_len, tgt_in, tgt_out))
    assert float(loss.detach()) == pytest.approx(np.log(len(tgt_v)), rel=0.3)  # untrained: about uniform
    ids, weights = greedy(net, src, src_len, tgt_v.index[BOS], 11, batch=4)
    assert ids.shape == (6, 11) and weights.shape == (6, 11, 30)
    if attention:
        torch.testing.assert_close(weights.sum(-1), torch.ones(6, 11))
        assert (src == 0).any() and float(weights.masked_select((src == 0).unsqueeze(1)).abs().sum()) == 0.0  # pads get none
    else:
        assert float(weights.abs().sum()) == 0.0 and not hasattr(net, "att_v")


def test_padding_does_not_change_an_answer():
    texts, isos, _ = generate(np.random.default_rng(2), 3)
    src_v, tgt_v = Vocab.fit([list(t) for t in texts]), Vocab.fit([list(s) for s in isos])
    torch.manual_seed(0)
    net = build(net_args(len(src_v), len(tgt_v), 8, 12, True))
    short = encode(texts, isos, src_v, tgt_v, 30)
    long = encode(texts, isos, src_v, tgt_v, 45)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(short[0], short[1], short[2]), net(long[0], long[1], long[2]))


def test_goals_judge_every_seed():
    exact = {"attention_seed0": 0.999, "attention_seed1": 0.997, "plain_seed0": 0.04, "plain_seed1": 0.2}
    result = summary(exact)
    assert result["models"]["plain"] == {"mean": pytest.approx(0.12), "min": 0.04, "max": 0.2, "seeds": 2}
    assert result["goals"]["attention_learns"]["met"] and result["goals"]["no_attention_does_not"]["met"]
    assert not summary({**exact, "attention_seed1": ATTENTION_GOAL - 0.001})["goals"]["attention_learns"]["met"]
    assert not summary({**exact, "plain_seed1": PLAIN_CEILING + 0.01})["goals"]["no_attention_does_not"]["met"]
    assert variant_of("attention_seed42") == "attention"


def test_accuracy_by_position_counts_each_character_of_the_iso_form():
    assert position_accuracy(["1987-05-03", "1987-06-0", ""], ["1987-05-03"] * 3) == \
        [0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 0.3333, 0.6667, 0.6667, 0.3333]
