import pytest
import torch

from stages.compress.nets import CNNConfig, as_args, build, cnn, parameter_count
from stages.compress.pruning import (check_sparsity, copy_net, make_permanent, prunable, prune_global,
                                   weight_sparsity)
from stages.core.side_by_side import Run, cross_entropy, side_by_side_parts
from stages.core.recipe import Recipe
from stages.core.training import TrainingRun
from tests.compress.sizes import STUDENT


def _weights(net) -> int:
    return sum(m.weight.numel() for m, _ in prunable(net))


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.95])
def test_prune_global_zeroes_exactly_the_requested_share_of_all_weights(sparsity):
    torch.manual_seed(0)
    net = cnn(STUDENT)
    pruned = prune_global(net, sparsity)
    n = _weights(net)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in prunable(pruned))
    assert zeros == round(sparsity * n)
    assert weight_sparsity(pruned) == pytest.approx(round(sparsity * n) / n)
    assert weight_sparsity(net) == 0.0  # the input is left as it was


def test_pruning_is_global_a_layer_of_large_weights_keeps_them():
    net = cnn(CNNConfig((2, 4, 4)))
    with torch.no_grad():
        net[-1].weight.fill_(100.0)  # the head: 40 of 336 weights, all larger than any other
    pruned = prune_global(net, 0.5)
    assert bool((pruned[-1].weight == 100.0).all())


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, True, "0.5", float("nan")])
def test_sparsity_outside_zero_one_is_one_clear_error(bad):
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\): got"):
        check_sparsity(bad)
    with pytest.raises(ValueError, match="sparsity"):
        prune_global(cnn(CNNConfig((2, 2, 2))), bad)


def test_make_permanent_keeps_the_zeros_under_the_usual_keys():
    net = cnn(STUDENT)
    pruned = prune_global(net, 0.8)
    assert any(k.endswith("weight_mask") for k in pruned.state_dict())
    permanent = make_permanent(pruned)
    assert set(permanent.state_dict()) == set(net.state_dict())
    assert weight_sparsity(permanent) == weight_sparsity(pruned)
    assert parameter_count(permanent, nonzero=True) < parameter_count(net)
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(permanent(x), pruned(x))


def test_fine_tuning_a_pruned_net_keeps_its_mask():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)
    args = as_args(CNNConfig((2, 4, 4)))
    pruned = prune_global(build(args), 0.7)
    runs = {"sparsity70_seed0": Run(net=lambda: copy_net(pruned), loss=cross_entropy, seed=0, data=(x, y), args=args)}
    run = TrainingRun("compress-prune", Recipe(epochs=2, batch_size=8, optimizer="adam", lr=1e-2), kind="compress-cnn",
                      device="cpu", seed=0)
    parts = side_by_side_parts(runs, 8)
    trainer = run.build(**parts)
    net = trainer.models["sparsity70_seed0"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trainer.fit(parts["data"])
    tuned = make_permanent(net)
    assert weight_sparsity(tuned) >= weight_sparsity(pruned)
    assert not torch.equal(before["0.3.weight_orig"], net.state_dict()["0.3.weight_orig"])  # block 1's conv trained
