"""Shapes of the transfer networks, their parameter groups, and what each variant trains."""
import pytest
import torch

from stages.transfer.nets import ARCHS, SmallVGG, build, feature_layer, group_of, param_groups


@pytest.mark.parametrize("side", [16, 32])
def test_small_vgg_shapes_and_module_names_follow_vgg16(side):
    net = SmallVGG(num_classes=5, width=4, hidden=16)
    assert net(torch.randn(2, 3, side, side)).shape == (2, 5)
    assert net.features(torch.randn(2, 3, side, side)).shape == (2, 16, side // 8, side // 8)
    keys = set(net.state_dict())
    assert {"classifier.0.weight", "classifier.3.weight", "classifier.6.weight"} <= keys  # VGG16's names
    assert isinstance(feature_layer(net), torch.nn.Conv2d) and feature_layer(net).out_channels == 16


def test_groups_cover_every_parameter_and_freezing_follows_the_learning_rates():
    net = build({"arch": "vgg_small", "num_classes": 3, "width": 4, "hidden": 8})
    arch = ARCHS["vgg_small"]
    assert {group_of(k, arch) for k, _ in net.named_parameters()} == {"features", "hidden", "head"}
    groups = param_groups(net, "vgg_small", {"head": 0.1})  # transfer learning, the book's way
    assert [g["name"] for g in groups] == ["head"]
    trainable = {k for k, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.6.weight", "classifier.6.bias"}
    groups = param_groups(net, "vgg_small", {"features": 1e-4, "hidden": 5e-4, "head": 1e-3})  # fine-tuning
    assert {g["name"]: g["lr"] for g in groups} == {"features": 1e-4, "hidden": 5e-4, "head": 1e-3}
    assert all(p.requires_grad for p in net.parameters())
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    with pytest.raises(AssertionError, match="unknown parameter group"):
        param_groups(net, "vgg_small", {"backbone": 0.1})


def test_torchvision_architecture_built_without_weights_with_a_new_head():
    net = build({"arch": "mobilenet_v3_small", "num_classes": 2, "width": 0, "hidden": 0})
    assert net(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    groups = param_groups(net, "mobilenet_v3_small", {"head": 1.0})
    assert [p.shape for p in groups[0]["params"]] == [(2, 1024), (2,)]


def test_vgg16_takes_imagenet_shaped_weights_with_only_classifier_6_replaced():
    """The course's path: torchvision's VGG16 (weights=None) for 2 classes, ImageNet-shaped weights
    (1,000 classes) matched key by key with classifier.6 skipped. Built on the meta device: shapes only, no memory."""
    from stages.core.errors import DataError
    from stages.core.weights import match_state_dict

    with torch.device("meta"):
        net = build({"arch": "vgg16", "num_classes": 2, "width": 0, "hidden": 0})
        imagenet = build({"arch": "vgg16", "num_classes": 1000, "width": 0, "hidden": 0}).state_dict()
    assert tuple(net.classifier[6].weight.shape) == (2, 4096)
    kept = match_state_dict(net, imagenet, "vgg16-397923af.pth", skip=(ARCHS["vgg16"].head,))
    assert len(kept) == 30 and not any(k.startswith("classifier.6.") for k in kept)
    with pytest.raises(DataError, match=r"vgg16-397923af.pth: .* shape differs .*classifier.6.bias \(1000,\) vs \(2,\)"):
        match_state_dict(net, imagenet, "vgg16-397923af.pth")
    groups = param_groups(net, "vgg16", {"features": 1e-4, "hidden": 5e-4, "head": 1e-3})
    assert [len(g["params"]) for g in groups] == [26, 4, 2]  # 13 convolutions; classifier.0 and .3; classifier.6
