"""gaitwave-import-opengait: turn an OpenGait checkpoint into a checkpoint `gaitwave-eval` reads.

    gaitwave-import-opengait GaitGL-80000.pt gaitgl.ckpt experiment=gaitgl
    gaitwave-import-opengait GaitGL-210000.pt gaitgl_oumvlp.ckpt experiment=gaitgl \\
        backbone=gaitgl_oumvlp head.embed_dim=256 data=...
    gaitwave-import-opengait GaitBase-60000.pt gaitbase.ckpt backbone=gaitbase \\
        backbone.channels=[64,128,256,512] head.embed_dim=256
    gaitwave-eval ckpt=gaitgl.ckpt data=...

The Hydra overrides compose the training config (`conf/train.yaml`) that builds the model; the
number of classes comes from the checkpoint's classifier. Supported models and what differs from
OpenGait: `gaitwave.models.opengait`. When the checkpoint does not fit the configured model the
error lists the keys and prints the overrides that match it. The OpenGait file is read with
`weights_only=True` (tensors and plain containers only); its optimiser and scheduler are dropped:
the result is for evaluation and fine-tuning from the weights, not for resuming.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from gaitwave.build import build_module
from gaitwave.config import config_dir
from gaitwave.models import opengait


def load_opengait_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], Any]:
    """(model state dict without `module.` prefixes, training iteration or None) of an OpenGait
    checkpoint, loaded with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenGait checkpoint {path} not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise opengait.OpenGaitImportError(
            f"{path} holds objects other than tensors and plain containers, so it is not loaded "
            f"(weights_only=True): {error}. Re-save only its weights: "
            "torch.save({'model': torch.load(path)['model']}, 'weights.pt') in a trusted session"
        ) from error
    if not isinstance(checkpoint, dict):
        raise opengait.OpenGaitImportError(
            f"{path} holds a {type(checkpoint).__name__}, not an OpenGait checkpoint dict"
        )
    try:
        state = opengait.opengait_state_dict(checkpoint)
    except opengait.OpenGaitImportError as error:
        raise opengait.OpenGaitImportError(f"{path}: {error}") from error
    return state, checkpoint.get("iteration")


def compose_train_config(overrides: Sequence[str]) -> DictConfig:
    """The training config (`conf/train.yaml`) with Hydra overrides (Hydra's compose API; no
    `hydra` node, so `paths.output_dir` must be given for the config to resolve)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def import_checkpoint(
    source: str | Path, target: str | Path, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Convert the OpenGait checkpoint `source` into the gaitwave checkpoint `target`.

    The model is built from the training config with `overrides`; unless an override sets it,
    `eval.feature` is the output equal to OpenGait's inference embedding. Returns a summary:
    `model` (OpenGait's name), `num_classes`, `eval_feature`, `tensors` (how many were mapped),
    `iteration`, `caveats` (where the import differs from OpenGait).
    """
    source, target = Path(source), Path(target)
    state, iteration = load_opengait_checkpoint(source)
    spec = opengait.identify(state)
    if spec is None:
        raise opengait.OpenGaitImportError(
            f"{source} is not a supported OpenGait model (supported: "
            f"{', '.join(s.name for s in opengait.OPENGAIT_MODELS.values())}); its first keys: "
            f"{list(state)[:6]}"
        )
    defaults = []
    if not any(o.startswith("paths.output_dir=") for o in overrides):
        defaults.append(f"paths.output_dir={target.resolve().parent}")
    if not any(o.startswith("eval.feature=") for o in overrides):
        defaults.append(f"eval.feature={opengait.eval_feature(state)}")
    cfg = compose_train_config([*defaults, *overrides])

    num_classes = opengait.num_classes(state)
    torch.manual_seed(cfg.seed)  # the initial values of what OpenGait lacks (GaitSet's BNNeck)
    module = build_module(cfg, num_classes=num_classes)
    try:
        weights = opengait.convert_state_dict(state, module.model)
    except opengait.OpenGaitImportError as error:
        raise opengait.OpenGaitImportError(f"{source}: {error}") from error
    module.model.load_state_dict(weights, strict=True)

    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": module.state_dict(),
            "gaitwave_config": module.config,
            "gaitwave_num_classes": num_classes,
            "opengait_source": {"path": str(source), "model": spec.name, "iteration": iteration},
        },
        target,
    )
    return {
        "model": spec.name,
        "num_classes": num_classes,
        "eval_feature": cfg.eval.feature,
        "tensors": len(state),
        "iteration": iteration,
        "caveats": opengait.caveats(state),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry: `gaitwave-import-opengait SOURCE.pt TARGET.ckpt [overrides ...]`."""
    parser = argparse.ArgumentParser(
        prog="gaitwave-import-opengait",
        description="Convert an OpenGait checkpoint ("
        + ", ".join(spec.name for spec in opengait.OPENGAIT_MODELS.values())
        + ") into a gaitwave checkpoint for gaitwave-eval.",
        epilog="Example: gaitwave-import-opengait GaitGL-80000.pt gaitgl.ckpt experiment=gaitgl",
    )
    parser.add_argument("source", help="OpenGait checkpoint (.pt)")
    parser.add_argument("target", help="gaitwave checkpoint to write (.ckpt)")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of conf/train.yaml that build the model"
    )
    args = parser.parse_args(argv)
    try:
        summary = import_checkpoint(args.source, args.target, args.overrides)
    except (opengait.OpenGaitImportError, FileNotFoundError) as error:
        print(f"gaitwave-import-opengait: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    print(
        f"Imported OpenGait {summary['model']} (iteration {summary['iteration']}, "
        f"{summary['tensors']} tensors, {summary['num_classes']} classes) into {args.target}; "
        f"evaluated feature: {summary['eval_feature']}"
    )
    for note in summary["caveats"]:
        print(f"Note: {note}")
    print(f"Evaluate with: gaitwave-eval ckpt={args.target}")


if __name__ == "__main__":
    main()
