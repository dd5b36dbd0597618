"""GaitSet: shapes, the stacked-branch pyramid, padding-exact set pooling, input checks,
OpenGait parameter parity, and a few training steps through `gaitwave-train experiment=gaitset`."""

from pathlib import Path

import pytest
import torch

from gaitwave.models import GaitHead, GaitSet, HorizontalPooling
from gaitwave.train import train

SMALL = {"channels": (4, 8, 8)}


@pytest.mark.parametrize(("height", "width"), [(32, 22), (64, 44), (128, 88)])
def test_feature_map_shapes(height, width):
    backbone = GaitSet(**SMALL)
    maps = backbone(torch.rand(2, 5, height, width))
    assert backbone.out_channels == 8
    assert maps.shape == (2, 8, 1, 2 * (height // 4), width // 4)
    assert backbone.out_lengths(torch.tensor([5, 2])).tolist() == [1, 1]


def test_doubled_bins_on_the_stack_pool_each_branch_on_its_own():
    """bins 2b on `[set; global]` give the parts of bins b on each branch (GaitSet's HPP)."""
    top, bottom = torch.rand(2, 3, 16, 11), torch.rand(2, 3, 16, 11)
    stacked = HorizontalPooling((32, 16, 8, 4, 2))(torch.cat([top, bottom], dim=2))
    pyramid = HorizontalPooling((16, 8, 4, 2, 1))
    parts = []
    for b in (16, 8, 4, 2, 1):
        parts += [HorizontalPooling((b,))(top), HorizontalPooling((b,))(bottom)]
    assert stacked.shape == (2, 3, 2 * pyramid.parts) == (2, 3, 62)
    torch.testing.assert_close(stacked, torch.cat(parts, dim=2))


def test_masked_batch_equals_one_sequence_at_a_time():
    """With `lengths` the set pooling skips the padding frames (eval mode)."""
    torch.manual_seed(0)
    backbone = GaitSet(**SMALL).eval()
    lengths = torch.tensor([6, 1, 4])
    frames = torch.rand(3, 6, 32, 22)  # the padding frames hold noise, which must not matter
    with torch.no_grad():
        batched = backbone(frames, lengths)
        for n, length in enumerate(lengths.tolist()):
            alone = backbone(frames[n : n + 1, :length])
            torch.testing.assert_close(batched[n : n + 1], alone, rtol=1e-5, atol=1e-6)


def test_rejects_bad_input_and_config():
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        GaitSet(**SMALL)(torch.rand(6, 32, 22))
    with pytest.raises(ValueError, match="3 positive entries"):
        GaitSet(channels=(32, 64))


def test_parameter_count_matches_opengait():
    """docs/PROTOCOLS.md: about 2.59M "total" = backbone (frame blocks 1-3 and the global copies of
    blocks 2 and 3) + part FCs (62 x 128 x 256), OpenGait's GaitSet (no BNNeck, no classifier;
    our head's BNNeck and classifier come on top). Measured 562,976 + 2,031,616 = 2,594,592."""
    backbone = GaitSet()
    head = GaitHead(backbone.out_channels, 256, bins=(32, 16, 8, 4, 2), num_classes=74)
    backbone_params = sum(p.numel() for p in backbone.parameters())
    assert head.part_fc.weight.shape == (62, 128, 256)
    assert backbone_params + head.part_fc.weight.numel() == pytest.approx(2.59e6, rel=0.01)


def test_experiment_config_trains_a_few_steps(tmp_path: Path, tiny_train_config):
    cfg = tiny_train_config(
        tmp_path,
        tmp_path / "data",
        "experiment=gaitset",
        "debug=tiny",
        "trainer.max_steps=3",
        "test=false",
        "backbone.channels=[8,16,16]",
    )
    assert cfg.backbone._target_.endswith("GaitSet") and cfg.head.bins == [32, 16, 8, 4, 2]
    train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
