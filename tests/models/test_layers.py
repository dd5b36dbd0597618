"""BasicBlock2d and FrameWise."""

import pytest
import torch
from torch import nn

from gaitwave.models.layers import BasicBlock2d, FrameWise


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "stride", "projected"),
    [(8, 8, 1, False), (8, 16, 1, True), (8, 8, 2, True), (8, 16, 2, True)],
)
def test_basic_block_shapes_and_shortcut(in_channels, out_channels, stride, projected):
    block = BasicBlock2d(in_channels, out_channels, stride)
    out = block(torch.randn(2, in_channels, 11, 7))
    assert out.shape == (2, out_channels, -(-11 // stride), -(-7 // stride))
    assert isinstance(block.shortcut, nn.Sequential) == projected
    assert (out >= 0).all()


def test_basic_block_identity_shortcut_adds_the_input():
    torch.manual_seed(0)
    block = BasicBlock2d(4, 4).eval()
    x = torch.randn(3, 4, 6, 5)
    residual = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(block(x), torch.relu(residual + x))


def test_frame_wise_equals_a_loop_over_frames():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    x = torch.randn(2, 3, 4, 9, 7)  # [N, C, T, H, W]
    out = FrameWise(conv)(x)
    expected = torch.stack([conv(x[:, :, t]) for t in range(x.shape[2])], dim=2)
    assert out.shape == (2, 5, 4, 5, 4)
    torch.testing.assert_close(out, expected)


def test_frame_wise_rejects_non_5d_input():
    with pytest.raises(ValueError, match=r"\[N, C, T, H, W\]"):
        FrameWise(nn.Identity())(torch.zeros(2, 3, 4, 5))
