"""The paper's training recipes (conf/experiment/): each composes with the dataset it names, builds
its module, and puts the paper's numbers (and the documented stand-ins for what the paper leaves
out) where training reads them. No data is read: the real datasets are not here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from gaitwave.build import build_module
from gaitwave.config import config_dir
from gaitwave.fusion import NormFusion
from gaitwave.losses import CircleLoss, SoftmaxLoss, TripletLoss


@dataclass(frozen=True)
class Recipe:
    data: str
    backbone: dict
    embed_dim: int
    parts: int
    losses: dict  # term name -> (loss class, {attribute: value})
    optimizer: type
    lr: float
    weight_decay: float
    max_steps: int
    milestones: list[int]
    sampler: list[int]
    frame_mode: str
    skip: int
    metric: str
    backbone_params: float  # millions (DeepGaitV2: OpenGait's sizes, docs/PROTOCOLS.md)


CIRCLE = {"circle": (CircleLoss, {"m": 0.25, "gamma": 256.0})}
TRIPLET_CE = {
    "triplet": (TripletLoss, {"margin": 0.2}),
    "softmax": (SoftmaxLoss, {"scale": 16.0, "label_smoothing": 0.1}),
}
GAITGL_64 = {"channels": [64, 128, 256, 256]}
RECIPES = {
    "casiab_gaitgl_circle": Recipe(
        data="casiab",
        backbone=GAITGL_64,
        embed_dim=256,
        parts=64,
        losses=CIRCLE,
        optimizer=torch.optim.Adam,
        lr=1e-4,
        weight_decay=5e-4,
        max_steps=100_000,
        milestones=[80_000, 95_000],
        sampler=[8, 16],
        frame_mode="fixed_ordered",
        skip=0,
        metric="cos",
        backbone_params=5.76,
    ),
    "oumvlp_deepgaitv2": Recipe(
        data="oumvlp",
        backbone={"mode": "p3d", "layers": [1, 1, 1, 1], "channels": [64, 128, 256, 512]},
        embed_dim=256,
        parts=16,
        losses=TRIPLET_CE,
        optimizer=torch.optim.SGD,
        lr=0.1,
        weight_decay=5e-4,
        max_steps=150_000,
        milestones=[60_000, 80_000, 100_000],
        sampler=[32, 8],
        frame_mode="fixed_ordered",
        skip=4,
        metric="euc",
        backbone_params=5.93,
    ),
    "gait3d_deepgaitv2": Recipe(
        data="gait3d",
        backbone={"mode": "p3d", "layers": [1, 4, 4, 1], "channels": [64, 128, 256, 512]},
        embed_dim=256,
        parts=16,
        losses=TRIPLET_CE,
        optimizer=torch.optim.SGD,
        lr=0.1,
        weight_decay=5e-4,
        max_steps=120_000,
        milestones=[40_000, 80_000, 100_000],
        sampler=[32, 4],
        frame_mode="fixed_ordered",
        skip=4,
        metric="euc",
        backbone_params=11.10,
    ),
    "synthgait_gpu": Recipe(
        data="synthgait",
        backbone=GAITGL_64,
        embed_dim=256,
        parts=64,
        losses=CIRCLE,
        optimizer=torch.optim.Adam,
        lr=1e-4,
        weight_decay=5e-4,
        max_steps=15_000,
        milestones=[12_000, 14_250],
        sampler=[8, 16],
        frame_mode="fixed_ordered",
        skip=0,
        metric="cos",
        backbone_params=5.76,
    ),
}


def compose_recipe(compose_config, name: str, tmp_path: Path, *overrides: str) -> DictConfig:
    """The train config of `experiment=name`, writing (and looking for data) under tmp_path."""
    return compose_config(
        "train",
        f"experiment={name}",
        f"paths.output_dir={tmp_path}",
        f"paths.data_dir={tmp_path / 'data'}",
        *overrides,
    )


def test_every_recipe_is_checked() -> None:
    """Each experiment tagged `recipe` has its expected values here."""
    tagged = {
        path.stem
        for path in (config_dir() / "experiment").glob("*.yaml")
        if "recipe" in OmegaConf.load(path).get("tags", [])
    }
    assert tagged == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_builds_with_the_papers_values(compose_config, name: str, tmp_path: Path) -> None:
    recipe = RECIPES[name]
    cfg = compose_recipe(compose_config, name, tmp_path)
    assert cfg.data.name == recipe.data
    backbone_cfg = OmegaConf.to_container(cfg.backbone)
    assert {key: backbone_cfg[key] for key in recipe.backbone} == recipe.backbone

    module = build_module(cfg, num_classes=10).eval()
    backbone = module.model.backbone
    params = sum(p.numel() for p in backbone.parameters()) / 1e6
    assert params == pytest.approx(recipe.backbone_params, abs=0.005)
    with torch.no_grad():
        feature_maps = backbone(torch.zeros(1, 3, 64, 44))
        outputs = module.model.head(feature_maps)
    assert outputs["embeddings"].shape == (1, recipe.embed_dim, recipe.parts)

    assert set(module.terms) == set(recipe.losses)
    for term_name, (loss_class, attributes) in recipe.losses.items():
        term = module.terms[term_name]
        assert isinstance(term.loss, loss_class)
        for attribute, value in attributes.items():
            assert getattr(term.loss, attribute) == pytest.approx(value), attribute
        assert term.weight == 1.0
        # Waveloss as the paper ran it: dynamic l in [-1, 1], truncation and normalisation on
        assert isinstance(term.fusion, NormFusion)
        assert term.fusion.truncate and term.fusion.normalize
        schedule = term.fusion.schedule
        assert (schedule.mode, schedule.l_min, schedule.l_max) == ("abs", -1.0, 1.0)

    optimizers = module.configure_optimizers()
    optimizer = optimizers["optimizer"]
    assert type(optimizer) is recipe.optimizer
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(recipe.lr)
    assert group["weight_decay"] == pytest.approx(recipe.weight_decay)
    if recipe.optimizer is torch.optim.SGD:
        assert group["momentum"] == pytest.approx(0.9)
    scheduler = optimizers["lr_scheduler"]["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == recipe.milestones
    assert scheduler.gamma == pytest.approx(0.1)
    assert optimizers["lr_scheduler"]["interval"] == "step"

    assert cfg.eval.metric == module.metric == recipe.metric
    datamodule = cfg.data.datamodule
    assert list(datamodule.sampler) == recipe.sampler
    assert (datamodule.train_frames, datamodule.frame_mode, datamodule.skip) == (
        30,
        recipe.frame_mode,
        recipe.skip,
    )
    assert (datamodule.height, datamodule.width) == (64, 44)
    assert cfg.trainer.max_steps == recipe.max_steps
    assert cfg.trainer.val_check_interval < cfg.trainer.max_steps
    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("gpu", "bf16-mixed")


def test_casiab_recipe_augments_with_flip_and_occlusion(compose_config, tmp_path: Path) -> None:
    cfg = compose_recipe(compose_config, "casiab_gaitgl_circle", tmp_path)
    targets = [t._target_.rsplit(".", 1)[1] for t in cfg.data.datamodule.train_transforms]
    assert targets == ["RandomHorizontalFlip", "RandomErasing"]


@pytest.mark.parametrize("name", ["oumvlp_deepgaitv2", "gait3d_deepgaitv2"])
def test_deepgaitv2_recipes_augment_as_deepgaitv2(
    compose_config, name: str, tmp_path: Path
) -> None:
    """Perspective, flip, rotation (paper) with DeepGaitV2's probability 0.2 and +-10 deg."""
    cfg = compose_recipe(compose_config, name, tmp_path)
    transforms = cfg.data.datamodule.train_transforms
    targets = [t._target_.rsplit(".", 1)[1] for t in transforms]
    assert targets == ["RandomPerspective", "RandomHorizontalFlip", "RandomRotation"]
    assert [t.p for t in transforms] == [0.2, 0.2, 0.2]
    assert transforms[2].degrees == 10.0


def test_synthgait_recipe_is_the_casiab_recipe_shortened(compose_config, tmp_path: Path) -> None:
    """Same model, loss, optimiser, sampling and augmentation as the CASIA-B recipe; lr steps at
    80 % and 95 % of its own length; evaluated a few times on SynthGait's dev set."""
    casiab = compose_recipe(compose_config, "casiab_gaitgl_circle", tmp_path)
    synth = compose_recipe(compose_config, "synthgait_gpu", tmp_path)
    for key in ("backbone", "head", "loss", "fusion", "optimizer", "eval"):
        assert OmegaConf.select(synth, key) == OmegaConf.select(casiab, key), key
    for key in ("sampler", "train_frames", "frame_mode", "skip", "height", "width"):
        assert synth.data.datamodule[key] == casiab.data.datamodule[key], key
    assert synth.data.datamodule.train_transforms == casiab.data.datamodule.train_transforms
    steps = synth.trainer.max_steps
    assert list(synth.scheduler.milestones) == [int(0.8 * steps), int(0.95 * steps)]
    assert 2 <= steps // synth.trainer.val_check_interval <= 5
    assert synth.data.synthgait.preset == "dev"


@pytest.mark.parametrize(
    "row", [["fusion=pre"], ["loss=softmax", "fusion=post"], ["fusion/schedule=static"]]
)
def test_ablation_rows_compose_on_the_casiab_recipe(
    compose_config, row: list[str], tmp_path: Path
) -> None:
    """The paper's ablations (Tables 4 to 6) run on its CASIA-B recipe: the recipe leaves the
    loss and fusion values to their groups, so swapping either still builds."""
    cfg = compose_recipe(compose_config, "casiab_gaitgl_circle", tmp_path, *row)
    assert build_module(cfg, num_classes=10).terms
