"""Backbones: feature taps match feature_info; weights load only from local files, strictly."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import mobilenet_v2, resnet18

from harness.errors import UsageError

BUILTINS = ["tiny", "mobilenet_v2", "alexnet", "vgg16", "resnet18", "resnet50"]


def build(registry, name, **settings):
    spec = registry.get("backbone", name)
    return spec.factory(spec.settings(**settings))


@pytest.mark.parametrize("name", BUILTINS)
def test_feature_info_matches_forward_features(registry, name):
    backbone = build(registry, name)
    x = torch.rand(1, 3, 96, 96)
    features = backbone.forward_features(x)
    assert [f.shape[1] for f in features] == [i.channels for i in backbone.feature_info]
    for f, info in zip(features, backbone.feature_info):
        assert abs(96 / f.shape[-1] - info.reduction) / info.reduction < 0.5
    assert backbone(x).shape == (1, backbone.num_features)


def test_forward_features_selected_indices(registry):
    backbone = build(registry, "tiny")
    x = torch.rand(2, 3, 32, 32)
    last, first = backbone.forward_features(x, [-1, 0])
    assert first.shape == (2, 16, 16, 16) and last.shape == (2, 128, 2, 2)


def test_random_init_is_seeded(registry):
    torch.manual_seed(1)
    a = build(registry, "resnet18")
    torch.manual_seed(1)
    b = build(registry, "resnet18")
    torch.manual_seed(2)
    c = build(registry, "resnet18")
    torch.testing.assert_close(a.state_dict(), b.state_dict())
    assert not torch.equal(a.blocks["layer1"][0].conv1.weight, c.blocks["layer1"][0].conv1.weight)


def test_torchvision_state_dict_loads_into_the_blocks(registry, tmp_path):
    reference = mobilenet_v2(weights=None)
    path = tmp_path / "mobilenet_v2_imagenet.pth"
    torch.save(reference.state_dict(), path)
    backbone = build(registry, "mobilenet_v2", weights=str(path))
    torch.testing.assert_close(backbone.blocks["stage1"][0][0].weight, reference.features[0][0].weight)
    torch.testing.assert_close(backbone.blocks["head"][1].running_mean,
                               reference.features[18][1].running_mean)
    reference.eval()
    backbone.eval()
    x = torch.rand(2, 3, 64, 64)
    expected = reference.features(x).mean(dim=(2, 3))
    torch.testing.assert_close(backbone(x), expected)


def test_harness_layout_loads_too(registry, tmp_path):
    source = build(registry, "tiny")
    path = tmp_path / "tiny.pt"
    torch.save({"backbone": source.state_dict()}, path)
    loaded = build(registry, "tiny", weights=str(path))
    torch.testing.assert_close(loaded.state_dict(), source.state_dict())


def test_missing_or_mismatched_weights_are_one_line_errors(registry, tmp_path):
    with pytest.raises(UsageError, match="does not exist.*never downloaded"):
        build(registry, "mobilenet_v2", weights=str(tmp_path / "nope.pth"))
    wrong = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), wrong)
    with pytest.raises(UsageError) as error:
        build(registry, "mobilenet_v2", weights=str(wrong))
    assert "\n" not in str(error.value) and "does not match mobilenet_v2" in str(error.value)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="not a PyTorch state dict"):
        build(registry, "mobilenet_v2", weights=str(garbage))


def test_block_index_names_the_blocks(registry):
    backbone = build(registry, "alexnet")
    assert backbone.block_index("conv3") == 2
    with pytest.raises(UsageError, match="conv1, conv2"):
        backbone.block_index("fc6")
