"""GaitBase: shapes, channels-last parity, input checks and the parameter count."""

import math

import pytest
import torch

from gaitwave.models import GaitBase, GaitHead, GaitModel


@pytest.mark.parametrize(("height", "width"), [(32, 22), (64, 44), (128, 88)])
def test_feature_map_shapes(height, width):
    backbone = GaitBase()
    maps = backbone(torch.rand(2, 3, height, width))
    assert backbone.out_channels == 128
    assert maps.shape == (2, 128, 3, math.ceil(height / 4), math.ceil(width / 4))


def test_custom_channels_and_strides():
    backbone = GaitBase(channels=(8, 8, 16), layers=(1, 2, 1), strides=(2, 1, 2))
    maps = backbone(torch.rand(1, 2, 64, 44))
    assert backbone.out_channels == 16
    assert maps.shape == (1, 16, 2, 16, 11)


def test_out_lengths_is_the_identity():
    lengths = torch.tensor([5, 2, 7])
    assert torch.equal(GaitBase().out_lengths(lengths), lengths)


@pytest.mark.parametrize("train", [False, True])
def test_channels_last_matches_contiguous(train):
    torch.manual_seed(0)
    contiguous = GaitBase()
    fast = GaitBase(channels_last=True)
    fast.load_state_dict(contiguous.state_dict())
    conv = fast.trunk.module[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    contiguous.train(train)
    fast.train(train)
    frames = (torch.rand(3, 4, 32, 22) > 0.5).float()
    expected = contiguous(frames)
    # only the summation order differs; training-mode BatchNorm amplifies it a little
    scale = expected.abs().max().item()
    torch.testing.assert_close(fast(frames), expected, atol=3e-5 * scale, rtol=1e-4)


def test_rejects_bad_input_and_config():
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        GaitBase()(torch.rand(3, 32, 22))
    with pytest.raises(ValueError, match="same length"):
        GaitBase(channels=(16, 32), layers=(1, 1, 1), strides=(1, 2))
    with pytest.raises(ValueError, match=">= 1"):
        GaitBase(strides=(1, 0, 2, 1))


def conv_bn(in_channels: int, out_channels: int, kernel: int) -> int:
    """Parameters of a bias-free conv plus a BatchNorm (weight and bias)."""
    return in_channels * out_channels * kernel * kernel + 2 * out_channels


def resnet9_parameters(channels, layers, strides) -> int:
    """Closed-form parameter count of the GaitBase trunk from the layer shapes."""
    total = conv_bn(1, channels[0], 3)  # stem
    in_channels = channels[0]
    for out_channels, blocks, stride in zip(channels, layers, strides, strict=True):
        for index in range(blocks):
            total += conv_bn(in_channels, out_channels, 3) + conv_bn(out_channels, out_channels, 3)
            if (stride if index == 0 else 1) != 1 or in_channels != out_channels:
                total += conv_bn(in_channels, out_channels, 1)  # projection shortcut
            in_channels = out_channels
    return total


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("channels", "layers", "strides"),
    [((64, 128, 256, 512), (1, 1, 1, 1), (1, 2, 2, 1)), ((16, 32, 64), (2, 1, 3), (2, 1, 2))],
)
def test_backbone_parameter_count_matches_closed_form(channels, layers, strides):
    assert count(GaitBase(channels, layers, strides)) == resnet9_parameters(
        channels, layers, strides
    )


def test_full_size_gaitbase_parameter_count():
    """Full size: 16 parts x 256, 74 classes (CASIA-B).

    Backbone 4,896,960. Head: part FCs 16*512*256 + BNNeck BatchNorm 2*256*16 + classifier
    16*256*74 = 2,408,448, which matches docs/PROTOCOLS.md's DeepGaitV2 head (8.34M - 5.93M); that
    DeepGaitV2 backbone is this one plus a (3, 1, 1) temporal conv and a BatchNorm in each of the
    last three stages: 4,896,960 + 3 * (128**2 + 256**2 + 512**2) + 2 * (128 + 256 + 512)
    = 5,930,944, the table's 5.93M.
    """
    model = GaitModel(GaitBase(channels=(64, 128, 256, 512)), GaitHead(512, 256, (16,), 74))
    backbone = resnet9_parameters((64, 128, 256, 512), (1, 1, 1, 1), (1, 2, 2, 1))
    head = 16 * 512 * 256 + 2 * 256 * 16 + 16 * 256 * 74
    assert count(model.backbone) == backbone
    assert count(model.head) == head
    assert (
        round((backbone + 3 * (128**2 + 256**2 + 512**2) + 2 * (128 + 256 + 512)) / 1e6, 2) == 5.93
    )
    assert round((count(model) - backbone) / 1e6, 2) == round(8.34 - 5.93, 2)
