"""GaitPart: focal convs, per-part temporal convs, the temporal aggregator against hand and loop
computations, shapes, padding-exact batching, OpenGait parameter parity, MACs, and one training
step of the composed `experiment=gaitpart` config."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gaitwave.build import build_module
from gaitwave.models import GaitModel
from gaitwave.models.backbones.gaitpart import CASIAB_LAYERS, GaitPart
from gaitwave.models.heads import GaitPartHead, TemporalFeatureAggregator
from gaitwave.models.layers import FocalConv2d, PartConv1d

SMALL_LAYERS = ("BC-4", "BC-4", "M", "FC-8-2", "FC-8-2", "M", "FC-8-3", "FC-8-3")
OUMVLP_LAYERS = (
    "BC-32",
    "BC-32",
    "M",
    "BC-64",
    "BC-64",
    "M",
    "FC-128-3",
    "FC-128-3",
    "FC-256-3",
    "FC-256-3",
)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_focal_conv_equals_the_conv_applied_strip_by_strip():
    torch.manual_seed(0)
    focal = FocalConv2d(3, 5, kernel_size=3, halving=2)
    x = torch.randn(2, 3, 16, 7)
    strips = [
        F.conv2d(strip, focal.conv.weight, padding=1) for strip in x.split(4, dim=2)
    ]  # 4 strips of 4 rows, each zero-padded on its own
    torch.testing.assert_close(focal(x), torch.cat(strips, dim=2))
    plain = FocalConv2d(3, 5, kernel_size=5, halving=0)
    torch.testing.assert_close(plain(x), F.conv2d(x, plain.conv.weight, padding=2))


def test_focal_conv_rejects_a_height_that_does_not_split():
    with pytest.raises(ValueError, match="divisible by 2 \\*\\* halving = 8"):
        FocalConv2d(1, 2, 3, halving=3)(torch.rand(1, 1, 12, 5))
    with pytest.raises(ValueError, match="halving"):
        FocalConv2d(1, 2, 3, halving=-1)


def test_part_conv_equals_one_conv1d_per_part():
    torch.manual_seed(0)
    conv = PartConv1d(4, 6, parts=3, kernel_size=5)
    x = torch.randn(2, 3, 4, 7)  # [N, P, C, T]
    expected = torch.stack([F.conv1d(x[:, p], conv.weight[p], padding=2) for p in range(3)], dim=1)
    torch.testing.assert_close(conv(x), expected)
    with pytest.raises(ValueError, match="odd"):
        PartConv1d(4, 6, parts=3, kernel_size=2)
    with pytest.raises(ValueError, match=r"\[N, 3, 4, T\]"):
        conv(torch.randn(2, 4, 3, 7))


def test_aggregator_on_a_hand_made_sequence():
    """Zero conv weights make both attentions sigmoid(0) = 1/2. One channel reads 1, 3, 2 over
    three frames: sliding means (zeros beyond the ends count) 4/3, 2, 5/3 (window 3) and
    6/5 everywhere (window 5); every sliding max is 3. The middle frame wins:
    1/2 (2 + 3) + 1/2 (6/5 + 3) = 4.6."""
    tfa = TemporalFeatureAggregator(in_channels=4, parts=2, squeeze=4)
    for weight in tfa.parameters():
        nn.init.zeros_(weight)
    x = torch.zeros(1, 4, 3, 2)  # [N, C, T, P]
    x[0, 0, :, 1] = torch.tensor([1.0, 3.0, 2.0])
    out = tfa(x)
    assert out.shape == (1, 4, 2)
    assert out[0, 0, 1].item() == pytest.approx(4.6)
    assert out[0, 0, 0].item() == 0.0 and out[0, 1:].abs().max().item() == 0.0


def reference_aggregator(tfa: TemporalFeatureAggregator, x: torch.Tensor) -> torch.Tensor:
    """GaitPart's aggregator written part by part with torch.nn layers: `[N, C, T, P] -> [N, C, P]`.

    One nn.Conv1d per part and layer holding `weight[p]` (OpenGait's per-part modules), pooling
    by nn.AvgPool1d / nn.MaxPool1d with their own padding rules."""

    def part_branch(branch: nn.Sequential, p: int, kernels: tuple[int, int]) -> nn.Sequential:
        convs = []
        for index, kernel in zip((0, 2), kernels, strict=True):
            weight = branch[index].weight[p]
            conv = nn.Conv1d(weight.shape[1], weight.shape[0], kernel, padding=kernel // 2)
            conv.weight.data, conv.bias.data = weight.detach().clone(), torch.zeros(weight.shape[0])
            convs.append(conv)
        return nn.Sequential(convs[0], nn.LeakyReLU(), convs[1])

    outputs = []
    for p in range(x.shape[3]):
        seq = x[..., p]  # [N, C, T]
        short = torch.sigmoid(part_branch(tfa.conv1d3x1, p, (3, 1))(seq)) * (
            nn.AvgPool1d(3, 1, 1)(seq) + nn.MaxPool1d(3, 1, 1)(seq)
        )
        long = torch.sigmoid(part_branch(tfa.conv1d3x3, p, (3, 3))(seq)) * (
            nn.AvgPool1d(5, 1, 2)(seq) + nn.MaxPool1d(5, 1, 2)(seq)
        )
        outputs.append((short + long).amax(dim=2))
    return torch.stack(outputs, dim=2)


@pytest.mark.parametrize("frames", [1, 2, 9])
def test_aggregator_equals_a_part_by_part_reference(frames):
    torch.manual_seed(0)
    tfa = TemporalFeatureAggregator(in_channels=8, parts=3, squeeze=4)
    x = torch.randn(2, 8, frames, 3)
    with torch.no_grad():
        torch.testing.assert_close(tfa(x), reference_aggregator(tfa, x))


def test_aggregator_rejects_bad_input():
    tfa = TemporalFeatureAggregator(in_channels=8, parts=3)
    with pytest.raises(ValueError, match=r"\[N, 8, T, 3\]"):
        tfa(torch.randn(2, 8, 5, 4))
    with pytest.raises(ValueError, match=r"\[1, T\]"):
        tfa(torch.randn(2, 8, 5, 3), torch.tensor([5, 6]))
    with pytest.raises(ValueError, match="squeeze"):
        TemporalFeatureAggregator(in_channels=2, squeeze=4)


@pytest.mark.parametrize(("height", "width"), [(64, 44), (128, 88)])
def test_shapes_at_both_resolutions(height, width):
    backbone = GaitPart()
    head = GaitPartHead(backbone.out_channels, num_classes=10)
    with torch.no_grad():
        maps = backbone(torch.rand(2, 3, height, width))
        out = head(maps)
    assert maps.shape == (2, 128, 3, height // 4, width // 4)
    assert out["embeddings"].shape == (2, 128, 16)
    assert out["bn_embeddings"].shape == (2, 128, 16)
    assert out["logits"].shape == (2, 10, 16)


def test_padded_batch_equals_one_sequence_at_a_time():
    """Lengths 1 and 2 are shorter than both temporal windows; padding frames hold noise."""
    torch.manual_seed(0)
    backbone = GaitPart(SMALL_LAYERS)
    model = GaitModel(backbone, GaitPartHead(8, embed_dim=12, num_classes=5)).eval()
    lengths = torch.tensor([9, 4, 1, 2, 6])
    frames = torch.rand(5, 9, 32, 22)
    with torch.no_grad():
        batched = model(frames, lengths)
        for n, length in enumerate(lengths.tolist()):
            alone = model(frames[n : n + 1, :length])
            for key in ("embeddings", "bn_embeddings", "logits"):
                torch.testing.assert_close(batched[key][n : n + 1], alone[key], rtol=0, atol=1e-5)
        full = model(frames, torch.full((5,), 9))["embeddings"]
        torch.testing.assert_close(full, model(frames)["embeddings"])


def test_padding_gets_zero_and_finite_gradients():
    torch.manual_seed(0)
    model = GaitModel(GaitPart(SMALL_LAYERS), GaitPartHead(8, embed_dim=12, num_classes=5))
    frames = torch.rand(3, 6, 32, 22, requires_grad=True)
    model(frames, torch.tensor([6, 1, 3]))["embeddings"].square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert frames.grad[1, 1:].abs().max().item() == 0.0
    assert frames.grad[2, 3:].abs().max().item() == 0.0
    assert frames.grad[2, :3].abs().max().item() > 0.0


def test_backbone_rejects_bad_input_and_layers():
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        GaitPart(SMALL_LAYERS)(torch.rand(3, 32, 22))
    with pytest.raises(ValueError, match=r"layers\[1\].*'XC-4'"):
        GaitPart(["BC-4", "XC-4"])
    with pytest.raises(ValueError, match=r"layers\[0\]"):
        GaitPart(["FC-4"])
    with pytest.raises(ValueError, match="start with a conv"):
        GaitPart(["M", "BC-4"])


def backbone_closed_form(layers: tuple[str, ...]) -> tuple[int, list[tuple[int, int, int]]]:
    """Parameters and per-conv (c_in, c_out, kernel) from the layer list: 5 x 5 first conv,
    3 x 3 after, bias-free."""
    convs, c_in = [], 1
    for spec in layers:
        if spec == "M":
            continue
        c_out = int(spec.split("-")[1])
        convs.append((c_in, c_out, 5 if not convs else 3))
        c_in = c_out
    return sum(i * o * k * k for i, o, k in convs), convs


def aggregator_closed_form(channels: int, parts: int) -> int:
    """Per part: C -> C/4 (k 3) and C/4 -> C (k 1) in the 3-frame branch, C -> C/4 (k 3) and
    C/4 -> C (k 3) in the 5-frame branch."""
    hidden = channels // 4
    return parts * (channels * hidden * 3 + hidden * channels + 2 * channels * hidden * 3)


@pytest.mark.parametrize(
    ("layers", "classes", "opengait_total"),
    [(CASIAB_LAYERS, 74, 1_204_000), (OUMVLP_LAYERS, 5153, 4_841_248)],
    ids=["casiab", "oumvlp"],
)
def test_parameter_counts_match_the_closed_form_and_opengait(layers, classes, opengait_total):
    """OpenGait's GaitPart = Backbone + TFA + Head (SeparateFCs 16 x C x C), no BNNeck:
    1,204,000 for CASIA-B (286,496 + 655,360 + 262,144) and 4,841,248 for its OU-MVLP config
    (the model zoo's "3.78M" for OU-MVLP does not follow from configs/gaitpart_OUMVLP.yaml).
    gaitwave adds the BNNeck: BatchNorm (2 x 16 D) and the part classifier (16 x D x classes)."""
    with torch.device("meta"):
        backbone = GaitPart(layers)
        c = backbone.out_channels
        head = GaitPartHead(c, embed_dim=c, bins=(16,), num_classes=classes)
    expected_backbone, _ = backbone_closed_form(layers)
    assert parameters(backbone) == expected_backbone
    assert parameters(head.tfa) == aggregator_closed_form(c, 16)
    assert parameters(head.part_fc) == 16 * c * c
    assert parameters(head.bnneck) == 2 * 16 * c + 16 * c * classes
    assert parameters(backbone) + parameters(head) - parameters(head.bnneck) == opengait_total


def test_macs_per_frame_match_the_closed_form():
    """Conv MACs per frame at 64 x 44: H W c_in c_out k^2 per conv, with the size halved by
    each max-pool (64 x 44, 64 x 44, 32 x 22, 32 x 22, 16 x 11, 16 x 11): 106,061,824
    (0.106 G); the aggregator adds its parameter count per frame (655,360)."""
    backbone = GaitPart().eval()
    _, convs = backbone_closed_form(CASIAB_LAYERS)
    sizes = [64 * 44] * 2 + [32 * 22] * 2 + [16 * 11] * 2
    expected = sum(hw * i * o * k * k for hw, (i, o, k) in zip(sizes, convs, strict=True))
    head = GaitPartHead(128, num_classes=74).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        maps = backbone(torch.rand(1, 1, 64, 44))
    assert counter.get_total_flops() == 2 * expected
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        head.tfa(torch.rand(1, 128, 5, 16))
    assert counter.get_total_flops() == 2 * 5 * aggregator_closed_form(128, 16)
    assert maps.shape == (1, 128, 1, 16, 11)


def test_experiment_config_builds_and_takes_a_training_step(compose_config, tmp_path):
    cfg = compose_config("train", "experiment=gaitpart", f"paths.output_dir={tmp_path}")
    assert cfg.backbone._target_ == "gaitwave.models.backbones.GaitPart"
    assert cfg.head._target_.endswith("GaitPartHead")
    assert list(cfg.loss) == ["triplet"]
    assert cfg.data.datamodule.frame_mode == "fixed_ordered"
    torch.manual_seed(0)
    module = build_module(cfg, num_classes=4)
    optimizer = instantiate(cfg.optimizer)(module.parameters())
    data = cfg.data.datamodule
    frames = torch.rand(8, data.train_frames, data.height, data.width)
    labels = torch.arange(4).repeat_interleave(2)
    before = [p.detach().clone() for p in module.parameters()]
    outputs = module(frames)
    loss = sum(term(outputs, labels) for term in module.terms.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))
