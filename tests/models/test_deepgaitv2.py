"""DeepGaitV2: OpenGait parameter parity, shapes in every mode, padding-exact batching, the P3D /
3D blocks, the 2d mode against GaitBase, channels-last parity and the experiment config."""

import pytest
import torch
from hydra.utils import instantiate

from gaitwave.build import build_module
from gaitwave.models import BasicBlock2d, FrameWise, GaitBase, GaitHead, GaitModel
from gaitwave.models.backbones.deepgaitv2 import DeepGaitV2
from gaitwave.models.layers import BasicBlock3D, BasicBlockP3D

MODES = ["2d", "p3d", "3d"]
SMALL = {"channels": (4, 8, 8, 16)}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def silhouettes(*shape: int) -> torch.Tensor:
    return (torch.rand(*shape) > 0.6).float()


@pytest.mark.parametrize(
    ("overrides", "num_classes", "reference_backbone", "reference_total"),
    [([], 74, 5.93e6, 8.34e6), (["backbone.layers=[1,4,4,1]"], 3000, 11.10e6, 25.5e6)],
    ids=["p3d-1111-casiab", "p3d-1441-3000-classes"],
)
def test_parameter_counts_match_opengait(
    compose_config, overrides, num_classes, reference_backbone, reference_total
):
    """docs/PROTOCOLS.md sizes, counted on the model `experiment=deepgaitv2` builds. Measured:
    5,930,944 / 8,339,392 and 11,098,816 / 25,492,160."""
    cfg = compose_config("train", "experiment=deepgaitv2", *overrides)
    with torch.device("meta"):  # shapes only, no initialisation
        backbone = instantiate(cfg.backbone)
        head = instantiate(cfg.head)(in_channels=backbone.out_channels, num_classes=num_classes)
        model = GaitModel(backbone, head)
    assert count(model.backbone) == pytest.approx(reference_backbone, rel=0.01)
    assert count(model) == pytest.approx(reference_total, rel=0.01)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("height", "width"), [(64, 44), (128, 88)])
def test_feature_map_shapes(mode, height, width):
    backbone = DeepGaitV2(mode, **SMALL)
    maps = backbone(silhouettes(2, 3, height, width))
    assert backbone.out_channels == 16
    assert maps.shape == (2, 16, 3, height // 4, width // 4)  # 16 x 11 at 64 x 44


def test_layers_and_strides_shape_the_stages():
    backbone = DeepGaitV2("p3d", layers=(2, 1, 3, 1), channels=(4, 8, 8, 8), strides=(2, 1, 2, 1))
    assert [len(backbone.layer1.module), len(backbone.layer2), len(backbone.layer3)] == [2, 1, 3]
    assert backbone(silhouettes(1, 2, 64, 44)).shape == (1, 8, 2, 16, 11)
    assert torch.equal(backbone.out_lengths(torch.tensor([4, 1])), torch.tensor([4, 1]))


@pytest.mark.parametrize("mode", MODES)
def test_padded_batch_equals_one_sequence_at_a_time(mode):
    """A zero-padded batch with `lengths` gives each sequence's own outputs (eval mode)."""
    torch.manual_seed(0)
    model = GaitModel(DeepGaitV2(mode, **SMALL), GaitHead(16, embed_dim=8, num_classes=5))
    with torch.no_grad():  # a few training batches so BatchNorm running stats are not trivial
        for _ in range(2):
            model(silhouettes(3, 4, 32, 22))
    model.eval()
    lengths = torch.tensor([6, 2, 4, 1])
    sequences = [silhouettes(length, 32, 22) for length in lengths.tolist()]
    batch = torch.zeros(4, 6, 32, 22)
    for n, sequence in enumerate(sequences):
        batch[n, : len(sequence)] = sequence
    with torch.no_grad():
        batched = model(batch, lengths)
        for n, sequence in enumerate(sequences):
            alone = model(sequence[None])
            for key, value in alone.items():
                torch.testing.assert_close(batched[key][n : n + 1], value, atol=1e-5, rtol=1e-5)
        if mode != "2d":  # without lengths the temporal convs see the padding frames' features
            unmasked = model.backbone(batch)[2, :, : lengths[2]]
            masked = model.backbone(batch, lengths)[2, :, : lengths[2]]
            assert not torch.allclose(unmasked, masked, atol=1e-4)


def test_2d_mode_is_the_gaitbase_trunk():
    """Mode 2d has no 3D conv and, with GaitBase's weights copied in order, GaitBase's output."""
    torch.manual_seed(0)
    channels, layers = (4, 8, 8, 16), (1, 2, 1, 1)
    deep = DeepGaitV2("2d", layers=layers, channels=channels)
    base = GaitBase(channels=channels, layers=layers)
    assert not any(isinstance(m, torch.nn.Conv3d) for m in deep.modules())
    assert all(isinstance(stage, FrameWise) for stage in (deep.layer2, deep.layer3, deep.layer4))
    assert count(deep) == count(base)
    base_state = base.state_dict()
    assert [v.shape for v in deep.state_dict().values()] == [v.shape for v in base_state.values()]
    deep.load_state_dict(dict(zip(deep.state_dict(), base_state.values(), strict=True)))
    deep.eval()
    base.eval()
    frames = silhouettes(2, 3, 64, 44)
    with torch.no_grad():
        torch.testing.assert_close(deep(frames), base(frames))


def test_p3d_block_without_its_temporal_conv_is_the_2d_block():
    """With a zero `shortcut3d` (eval mode, fresh BatchNorm) the P3D block is BasicBlock2d applied
    to every frame, its 1 x 1 x 1 shortcut conv being the 2D block's 1 x 1 conv."""
    torch.manual_seed(0)
    p3d = BasicBlockP3D(3, 5, stride=2).eval()
    plain = BasicBlock2d(3, 5, stride=2).eval()
    with torch.no_grad():
        p3d.shortcut3d.weight.zero_()
        plain.conv1.weight.copy_(p3d.conv1.module[0].weight)
        plain.conv2.weight.copy_(p3d.conv2.module[0].weight)
        plain.shortcut[0].weight.copy_(p3d.shortcut[0].weight[:, :, 0])
        x = torch.randn(2, 3, 4, 8, 6)
        torch.testing.assert_close(p3d(x), FrameWise(plain)(x))


@pytest.mark.parametrize(("block_class", "reach"), [(BasicBlockP3D, 1), (BasicBlock3D, 2)])
def test_blocks_mix_only_neighbouring_frames(block_class, reach):
    """Changing frame 0 changes the outputs of frames 0..reach only: one temporal 3-tap conv in
    the P3D block, two in the 3D block."""
    torch.manual_seed(0)
    block = block_class(2, 3).eval()
    x = torch.randn(1, 2, 6, 8, 6)
    changed = x.clone()
    changed[:, :, 0] = torch.randn(1, 2, 8, 6)
    with torch.no_grad():
        moved = (block(changed) - block(x)).abs().amax(dim=(0, 1, 3, 4))
    assert bool((moved[: reach + 1] > 0).all())
    assert bool((moved[reach + 1 :] == 0).all())


@pytest.mark.parametrize("mode", ["p3d", "3d"])
def test_channels_last_matches_contiguous(mode):
    torch.manual_seed(0)
    contiguous = DeepGaitV2(mode, **SMALL)
    fast = DeepGaitV2(mode, **SMALL, channels_last=True)
    fast.load_state_dict(contiguous.state_dict())
    assert fast.layer0.module[0].weight.is_contiguous(memory_format=torch.channels_last)
    frames = silhouettes(2, 4, 32, 22)
    lengths = torch.tensor([4, 3])
    expected = contiguous(frames, lengths)
    scale = expected.abs().max().item()  # training-mode BatchNorm amplifies summation order
    torch.testing.assert_close(fast(frames, lengths), expected, atol=3e-5 * scale, rtol=1e-4)


def test_rejects_bad_input_and_config():
    with pytest.raises(ValueError, match=r"frames\[None\]"):
        DeepGaitV2(**SMALL)(torch.rand(3, 32, 22))
    with pytest.raises(ValueError, match="'2d', 'p3d', '3d'"):
        DeepGaitV2("P3D")
    with pytest.raises(ValueError, match="4 entries each"):
        DeepGaitV2(layers=(1, 1, 1))
    with pytest.raises(ValueError, match=">= 1"):
        DeepGaitV2(strides=(1, 0, 2, 1))


def test_experiment_config_builds(compose_config, tmp_path):
    cfg = compose_config("train", "experiment=deepgaitv2", f"paths.output_dir={tmp_path}")
    assert cfg.backbone._target_ == "gaitwave.models.backbones.DeepGaitV2"
    assert (cfg.backbone.mode, list(cfg.backbone.channels)) == ("p3d", [64, 128, 256, 512])
    assert (cfg.head.embed_dim, list(cfg.head.bins)) == (256, [16])
    module = build_module(cfg, num_classes=74)
    assert isinstance(module.model.backbone, DeepGaitV2)
    assert module.model.head.part_fc.weight.shape == (16, 512, 256)
