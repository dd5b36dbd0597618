"""GaitGL: shapes, GLConv, padding-exact batching, input checks, OpenGait parameter parity, and a
few training steps through `gaitwave-train experiment=gaitgl`."""

from pathlib import Path

import pytest
import torch

from gaitwave.models import GaitGL, GaitHead, GaitModel, GLConv
from gaitwave.train import train

SMALL = {"channels": (4, 8, 8, 8)}


@pytest.mark.parametrize(("height", "width"), [(32, 22), (64, 44), (128, 88)])
def test_feature_map_shapes(height, width):
    backbone = GaitGL(**SMALL)
    maps = backbone(torch.rand(2, 10, height, width))
    assert backbone.out_channels == 8
    # LTA: 10 frames -> 3; the max-pool halves H and W, the last GLConv doubles H back
    assert maps.shape == (2, 8, 3, height, width // 2)


def test_glconv_adds_or_concatenates_along_the_height():
    x = torch.rand(2, 3, 4, 16, 6)
    assert GLConv(3, 5, halving=2)(x).shape == (2, 5, 4, 16, 6)
    assert GLConv(3, 5, halving=2, concat=True)(x).shape == (2, 5, 4, 32, 6)
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* halving = 8"):
        GLConv(3, 5, halving=3)(torch.rand(1, 3, 2, 12, 6))


def test_glconv_local_branch_stays_in_its_strip():
    torch.manual_seed(0)
    conv = GLConv(1, 2, halving=1, concat=True)
    x = torch.rand(1, 1, 3, 8, 4)
    changed = x.clone()
    changed[..., :4, :] = torch.rand(1, 1, 3, 4, 4)  # only the top strip
    local_rows = slice(8 + 4, 16)  # the local half of the output, bottom strip
    torch.testing.assert_close(conv(changed)[..., local_rows, :], conv(x)[..., local_rows, :])


def test_out_lengths_follow_the_temporal_stride():
    lengths = torch.tensor([3, 5, 6, 10])
    assert GaitGL(**SMALL).out_lengths(lengths).tolist() == [1, 1, 2, 3]
    with pytest.raises(ValueError, match="at least 3 valid frames"):
        GaitGL(**SMALL).out_lengths(torch.tensor([4, 2]))


def test_masked_batch_equals_one_sequence_at_a_time():
    """With `lengths` the padded batch gives each sequence's own result (eval mode)."""
    torch.manual_seed(0)
    backbone = GaitGL(**SMALL).eval()
    head = GaitHead(8, embed_dim=16, bins=(64,), num_classes=5, pooling="gem").eval()
    lengths = torch.tensor([11, 7, 3, 9])
    frames = torch.rand(4, 11, 32, 22)  # the padding frames hold noise, which must not matter
    with torch.no_grad():
        batched = head(backbone(frames, lengths), backbone.out_lengths(lengths))["embeddings"]
        for n, length in enumerate(lengths.tolist()):
            alone = head(backbone(frames[n : n + 1, :length]))["embeddings"]
            torch.testing.assert_close(batched[n : n + 1], alone, rtol=1e-5, atol=1e-6)


def test_gait_model_padded_batch_equals_one_sequence_at_a_time():
    """`GaitModel` passes `lengths` to the backbone: a zero-padded batch of sequences of any
    lengths gives each sequence's own embedding (eval mode)."""
    torch.manual_seed(0)
    model = GaitModel(GaitGL(**SMALL), GaitHead(8, 16, (64,), 5, pooling="gem")).eval()
    lengths = torch.tensor([11, 7, 4])
    frames = torch.rand(3, 11, 32, 22)
    for n, length in enumerate(lengths.tolist()):
        frames[n, length:] = 0
    with torch.no_grad():
        batched = model(frames, lengths)["embeddings"]
        for n, length in enumerate(lengths.tolist()):
            alone = model(frames[n : n + 1, :length])["embeddings"]
            torch.testing.assert_close(batched[n : n + 1], alone, rtol=1e-5, atol=1e-6)


def test_rejects_bad_input_and_config():
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        GaitGL(**SMALL)(torch.rand(6, 32, 22))
    with pytest.raises(ValueError, match="at least 3 frames"):
        GaitGL(**SMALL)(torch.rand(1, 2, 32, 22))
    with pytest.raises(ValueError, match="4 positive entries"):
        GaitGL(channels=(32, 64, 128))
    with pytest.raises(ValueError, match="blocks"):
        GaitGL(blocks=0)


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("variant", "embed_dim", "num_classes", "reference_backbone", "reference_total"),
    [
        ({}, 128, 74, 1.44e6, 3.10e6),
        (
            {"channels": (32, 64, 128, 256), "blocks": 2, "halving": 1, "stem_layers": 2},
            256,
            5153,
            7.00e6,
            95.62e6,
        ),
    ],
    ids=["casiab", "oumvlp"],
)
def test_parameter_counts_match_opengait(
    variant, embed_dim, num_classes, reference_backbone, reference_total
):
    """docs/PROTOCOLS.md sizes. "total" = backbone + GeM exponent + part FCs (64 x C x D) + BNNeck
    BatchNorm (weight and bias, 2 x 64 x D) + part classifier (64 x D x classes), the same
    parts as OpenGait's GaitGL (Head0, Bn, Head1); measured 1,441,632 / 3,112,801 (CASIA-B) and
    6,998,880 / 95,652,705 (OU-MVLP)."""
    with torch.device("meta"):  # shapes only: the OU-MVLP classifier alone has 84M weights
        backbone = GaitGL(**variant)
        head = GaitHead(
            backbone.out_channels, embed_dim, bins=(64,), num_classes=num_classes, pooling="gem"
        )
    assert parameters(backbone) == pytest.approx(reference_backbone, rel=0.01)
    assert parameters(backbone) + parameters(head) == pytest.approx(reference_total, rel=0.01)


def test_experiment_config_trains_a_few_steps(tmp_path: Path, tiny_train_config):
    cfg = tiny_train_config(
        tmp_path,
        tmp_path / "data",
        "experiment=gaitgl",
        "debug=tiny",
        "trainer.max_steps=3",
        "test=false",
        "backbone.channels=[8,8,16,16]",
    )
    assert cfg.backbone._target_.endswith("GaitGL") and cfg.head.pooling == "gem"
    train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
