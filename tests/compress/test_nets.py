import pytest
import torch

from stages.compress.nets import CNNConfig, as_args, cnn, fusable_groups, head, parameter_count, resnet18
from tests.compress.sizes import SEPARABLE_STUDENT, STUDENT, TEACHER


@pytest.mark.parametrize("cfg", [TEACHER, STUDENT, SEPARABLE_STUDENT, CNNConfig((4, 8, 8), in_channels=3, classes=5)])
@pytest.mark.parametrize("px", [8, 32])
def test_nets_map_images_to_one_logit_per_class(cfg, px):
    out = cnn(cfg)(torch.rand(2, cfg.in_channels, px, px))
    assert out.shape == (2, cfg.classes)
    assert head(cnn(cfg)).out_features == cfg.classes


def test_separable_student_has_seven_times_fewer_parameters_than_the_student():
    dense, separable = parameter_count(cnn(STUDENT)), parameter_count(cnn(SEPARABLE_STUDENT))
    assert dense / separable >= 7
    # hand count of the separable net: stem, depthwise + pointwise twice (convs without bias, each
    # followed by a batch norm's scale and shift), head
    bn = 2 * (16 + 16 + 64 + 64 + 128)
    assert separable == 9 * 16 + 9 * 16 + 16 * 64 + 9 * 64 + 64 * 128 + bn + (128 * 10 + 10)
    assert parameter_count(cnn(TEACHER)) > dense


def test_separable_blocks_use_depthwise_convs():
    groups = [m.groups for m in cnn(SEPARABLE_STUDENT).modules() if isinstance(m, torch.nn.Conv2d)]
    assert groups == [1, 16, 1, 64, 1]
    assert all(m.groups == 1 for m in cnn(STUDENT).modules() if isinstance(m, torch.nn.Conv2d))


def test_parameter_count_nonzero_counts_only_nonzero_weights():
    net = cnn(CNNConfig((2, 2, 2)))
    before = parameter_count(net, nonzero=True)
    assert before < parameter_count(net)  # a fresh batch norm's shifts are 0
    with torch.no_grad():
        net[-1].weight.zero_()
    assert parameter_count(net, nonzero=True) == before - net[-1].weight.numel()


def test_config_round_trips_and_refuses_bad_channels():
    assert CNNConfig.from_dict(SEPARABLE_STUDENT.as_dict()) == SEPARABLE_STUDENT
    with pytest.raises(ValueError, match="channels"):
        CNNConfig((8, 0, 8))
    with pytest.raises(ValueError, match="channels"):
        CNNConfig((8, 8))
    with pytest.raises(TypeError):
        CNNConfig.from_dict({**STUDENT.as_dict(), "width": 3})


def test_fusable_groups_names_every_conv_bn_relu_run():
    assert fusable_groups(cnn(STUDENT)) == [["0.0", "0.1", "0.2"], ["0.3", "0.4", "0.5"], ["0.7", "0.8", "0.9"]]
    assert len(fusable_groups(cnn(SEPARABLE_STUDENT))) == 5
    nn = torch.nn
    assert fusable_groups(nn.Sequential(nn.ReLU(), nn.Linear(2, 2))) == []
    assert fusable_groups(nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1), nn.Linear(1, 1), nn.ReLU())) == [["0", "1"], ["2", "3"]]


def test_load_net_round_trips_a_checkpoint_and_names_a_corrupted_one(tmp_path):
    from stages.compress.nets import KIND, load_net
    from stages.core.checkpoint import FORMAT, save_checkpoint
    from stages.core.errors import DataError

    net = cnn(STUDENT).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"format": FORMAT, "kind": KIND, "model_args": as_args(STUDENT), "params": {}, "epoch": 1,
                           "models": {"net": net.state_dict()}})
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(load_net(path)(x), net(x))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(DataError, match="model.pt"):
        load_net(path)


def test_the_head_of_the_course_resnet_is_its_fc():
    net = resnet18(3, 10)
    assert head(net) is net.fc and net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
