"""The three losses against direct formulas (written as loops here), PyTorch's own triplet loss, and
``gradcheck``; their bad arguments; the triplet miner's choices on a batch worked by hand."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from stages.represent.losses import ContrastiveLoss, NTXentLoss, TripletLoss, distances


def batch(n=9, d=5, classes=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.arange(n) % classes


def test_contrastive_matches_the_pairwise_formula():
    e, y = batch()
    u = F.normalize(e, dim=1)
    terms = []
    for i, j in itertools.combinations(range(len(y)), 2):
        d = float(torch.linalg.vector_norm(u[i] - u[j]))
        terms.append(d * d / 2 if y[i] == y[j] else max(0.0, 0.5 - d) ** 2 / 2)
    assert float(ContrastiveLoss(0.5)(e, y)) == pytest.approx(sum(terms) / len(terms), abs=1e-12)


@pytest.mark.parametrize("mining", ["semihard", "hardest", "all"])
def test_triplet_equals_pytorchs_loss_on_the_triplets_it_mines(mining):
    e, y = batch(n=12, classes=4, seed=1)
    loss = TripletLoss(0.2, mining)
    u = F.normalize(e, dim=1)
    a, p, n = loss.negatives(distances(u), y)
    assert len(a) and (y[a] == y[p]).all() and (y[a] != y[n]).all() and (a != p).all()
    expected = F.triplet_margin_loss(u[a], u[p], u[n], margin=0.2, eps=0.0)
    assert float(loss(e, y)) == pytest.approx(float(expected), abs=1e-6)


def test_the_miner_picks_semihard_hardest_and_the_fallback_by_hand():
    # one anchor (0) and positive (1) at distance 1 on a line; negatives at 0.5 (harder), 1.5 and 3
    d = torch.tensor([[0.0, 1.0, 0.5, 1.5, 3.0]]).expand(5, 5).clone()
    y = torch.tensor([0, 0, 1, 1, 1])
    for mining, negative in (("semihard", 3), ("hardest", 2)):
        a, p, n = TripletLoss(0.2, mining).negatives(d, y)
        assert n[(a == 0) & (p == 1)].tolist() == [negative]
    d[0, 3] = d[0, 4] = 0.1  # no negative farther than the positive: the farthest one instead (TF Addons' rule)
    a, p, n = TripletLoss(0.2, "semihard").negatives(d, y)
    assert n[(a == 0) & (p == 1)].tolist() == [2]


def test_ntxent_matches_the_softmax_formula():
    z1, _ = batch(n=4, seed=2)
    z2, _ = batch(n=4, seed=3)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    t, total = 0.5, 0.0
    for i in range(8):
        other = (i + 4) % 8
        num = math.exp(float(z[i] @ z[other]) / t)
        den = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(8) if k != i)
        total += -math.log(num / den)
    assert float(NTXentLoss(t)(z1, z2)) == pytest.approx(total / 8, abs=1e-12)


def test_gradients_match_finite_differences():
    e, y = batch(n=6, d=3, classes=2, seed=4)
    for loss in (ContrastiveLoss(0.8), TripletLoss(0.5, "semihard"), TripletLoss(0.5, "all")):
        assert torch.autograd.gradcheck(lambda x: loss(x, y), (e.clone().requires_grad_(),))
    z1, z2 = batch(n=3, d=3, seed=5)[0], batch(n=3, d=3, seed=6)[0]
    assert torch.autograd.gradcheck(NTXentLoss(0.3), (z1.requires_grad_(), z2.requires_grad_()))


def test_a_batch_without_pairs_or_negatives_gives_a_zero_loss_that_still_backpropagates():
    e = torch.randn(3, 4, requires_grad=True)
    for loss, y in ((TripletLoss(0.2), torch.tensor([0, 1, 2])), (TripletLoss(0.2), torch.tensor([1, 1, 1])),
                    (ContrastiveLoss(0.5), torch.tensor([0]))):
        x = e[: len(y)]
        out = loss(x, y)
        out.backward()
        assert float(out.detach()) == 0.0 and e.grad is not None
    e = torch.zeros(2, 3, requires_grad=True)  # identical embeddings: a finite gradient, not NaN
    ContrastiveLoss(0.5)(e + torch.tensor([1.0, 0, 0]), torch.tensor([0, 1])).backward()
    assert torch.isfinite(e.grad).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="margin must be ≥ 0"):
        ContrastiveLoss(-0.1)
    with pytest.raises(ValueError, match="margin must be ≥ 0"):
        TripletLoss(-1.0)
    with pytest.raises(ValueError, match="unknown triplet mining 'random'"):
        TripletLoss(0.2, "random")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        NTXentLoss(0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        NTXentLoss(0.5)(torch.randn(3, 4), torch.randn(2, 4))
