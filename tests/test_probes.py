"""harness.probes: the ~9,000-dimension resizing of each block, against the numbers the papers
print (Sheng et al. 2020's 9600/9216 classifier sizes; Gidaris et al.'s public pool sizes)."""

from __future__ import annotations

import pytest
import torch

from harness.probes import block_geometry, pool_side, pooled_features


def test_pool_side_reproduces_the_classifier_sizes_sheng_reports():
    # Zhang et al.'s CaffeNet blocks: 96, 256, 384, 384, 256 channels; Sheng et al. §Training
    # Pipeline: "9600 x 2, 9216 x 2, 9600 x 2, 9600 x 2, and 9216 x 2".
    channels = [96, 256, 384, 384, 256]
    assert [c * pool_side(c) ** 2 for c in channels] == [9600, 9216, 9600, 9600, 9216]
    # torchvision AlexNet (64, 192, 384, 256, 256): Gidaris et al.'s pool sizes 12, 7, 5, 6, 6
    assert [pool_side(c) for c in [64, 192, 384, 256, 256]] == [12, 7, 5, 6, 6]
    assert pool_side(20000) == 1 and pool_side(16, target_dim=64) == 2


def test_alexnet_geometry_at_227_and_clipped_at_64(registry):
    spec = registry.get("backbone", "alexnet")
    backbone = spec.factory(spec.settings())
    full = block_geometry(backbone, 227)
    assert [g.name for g in full] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert [g.dim for g in full] == [9216, 9408, 9600, 9216, 9216]
    small = block_geometry(backbone, 64)  # conv3..conv5 are 3 x 3 there: never enlarged
    assert [g.side for g in small] == [(12, 12), (7, 7), (3, 3), (3, 3), (3, 3)]
    assert [g.map_size for g in small][2:] == [(3, 3)] * 3
    assert [g.name for g in block_geometry(backbone, 64, ["conv2", "conv4"])] == ["conv2", "conv4"]


def test_pooled_features_average_and_max_by_hand():
    fmap = torch.arange(16.0).view(1, 1, 4, 4)
    geometry = [type("G", (), {"side": (2, 2)})()]
    avg = pooled_features([fmap], geometry, "avg")[0]
    top = pooled_features([fmap], geometry, "max")[0]
    # 2 x 2 cells of the 4 x 4 grid 0..15: means 2.5, 4.5, 10.5, 12.5; maxima 5, 7, 13, 15
    assert avg.tolist() == [[2.5, 4.5, 10.5, 12.5]]
    assert top.tolist() == [[5.0, 7.0, 13.0, 15.0]]


def test_geometry_leaves_the_backbone_mode_alone(registry):
    spec = registry.get("backbone", "tiny")
    backbone = spec.factory(spec.settings()).train()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    block_geometry(backbone, 64)
    assert backbone.training
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("size", [96, 227])
def test_mobilenet_blocks_get_about_9000_dims(registry, size):
    spec = registry.get("backbone", "mobilenet_v2")
    geometry = block_geometry(spec.factory(spec.settings()), size)
    for g in geometry:
        if min(g.map_size) >= pool_side(g.channels):
            assert 0.7 * 9000 < g.dim < 1.3 * 9000, g
