import pytest
import torch

from stages.compress.nets import (SEPARABLE_STUDENT, STUDENT, TEACHER, CNNConfig, cnn, fusable_pairs, head,
                                  parameter_count)


@pytest.mark.parametrize("cfg", [TEACHER, STUDENT, SEPARABLE_STUDENT, CNNConfig((4, 8, 8), in_channels=3, classes=5)])
@pytest.mark.parametrize("px", [8, 32])
def test_nets_map_images_to_one_logit_per_class(cfg, px):
    out = cnn(cfg)(torch.rand(2, cfg.in_channels, px, px))
    assert out.shape == (2, cfg.classes)
    assert head(cnn(cfg)).out_features == cfg.classes


def test_separable_student_has_seven_times_fewer_parameters_than_the_student():
    dense, separable = parameter_count(cnn(STUDENT)), parameter_count(cnn(SEPARABLE_STUDENT))
    assert dense / separable >= 7
    # hand count of the separable net: stem, depthwise + pointwise twice, head
    assert separable == (9 * 16 + 16) + (9 * 16 + 16) + (16 * 64 + 64) + (9 * 64 + 64) + (64 * 128 + 128) + (128 * 10 + 10)
    assert parameter_count(cnn(TEACHER)) > dense


def test_separable_blocks_use_depthwise_convs():
    groups = [m.groups for m in cnn(SEPARABLE_STUDENT).modules() if isinstance(m, torch.nn.Conv2d)]
    assert groups == [1, 16, 1, 64, 1]
    assert all(m.groups == 1 for m in cnn(STUDENT).modules() if isinstance(m, torch.nn.Conv2d))


def test_parameter_count_nonzero_counts_only_nonzero_weights():
    net = cnn(CNNConfig((2, 2, 2)))
    with torch.no_grad():
        net[-1].weight.zero_()
    assert parameter_count(net, nonzero=True) == parameter_count(net) - net[-1].weight.numel()


def test_config_round_trips_and_refuses_bad_channels():
    assert CNNConfig.from_dict(SEPARABLE_STUDENT.as_dict()) == SEPARABLE_STUDENT
    with pytest.raises(ValueError, match="channels"):
        CNNConfig((8, 0, 8))
    with pytest.raises(ValueError, match="channels"):
        CNNConfig((8, 8))
    with pytest.raises(TypeError):
        CNNConfig.from_dict({**STUDENT.as_dict(), "width": 3})


def test_fusable_pairs_names_every_conv_relu_pair():
    assert fusable_pairs(cnn(STUDENT)) == [["0.0", "0.1"], ["0.2", "0.3"], ["0.5", "0.6"]]
    assert len(fusable_pairs(cnn(SEPARABLE_STUDENT))) == 5
    assert fusable_pairs(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2))) == []


def test_load_net_round_trips_a_checkpoint_and_names_a_corrupted_one(tmp_path):
    from stages.compress.nets import KIND, load_net
    from stages.core.checkpoint import FORMAT, save_checkpoint
    from stages.core.errors import DataError

    net = cnn(STUDENT)
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"format": FORMAT, "kind": KIND, "model_args": STUDENT.as_dict(), "params": {}, "epoch": 1,
                           "models": {"net": net.state_dict()}})
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(load_net(path)(x), net(x))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(DataError, match="model.pt"):
        load_net(path)
