"""gaitwave-synth: generate SynthGait, calibrate it, or draw its contact sheet (conf/synth.yaml).

gaitwave-synth                             # preset=dev seed=0 -> data/synthgait/dev-seed0
gaitwave-synth preset=ci root=/tmp/sg workers=2 num_ids=8 frames=20 views=[0,90,180]
gaitwave-synth calibrate=true root=data/synthgait/dev-seed0
gaitwave-synth sheet=true root=data/synthgait/dev-seed0 out=sheet.png
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from gaitwave.config import config_dir


def run(cfg: DictConfig) -> Path | dict[str, float]:
    """Do what the config asks: calibrate, draw a sheet, or generate (the default)."""
    root = Path(cfg.root)
    if cfg.calibrate:
        from gaitwave.data.synthgait.calibrate import calibrate

        return calibrate(root)
    if cfg.sheet:
        from gaitwave.data.synthgait.sheet import write_contact_sheet

        out = write_contact_sheet(root, cfg.out, cfg.sheet_ids, cfg.sheet_frames)
        print(f"Contact sheet: {out}")
        return out
    from gaitwave.data.synthgait import generate

    views = OmegaConf.to_container(cfg.views) if cfg.views is not None else None
    partition = generate(
        root,
        preset=cfg.preset,
        seed=cfg.seed,
        format=cfg.format,
        workers=cfg.workers,
        num_ids=cfg.num_ids,
        frames=cfg.frames,
        views=views,
        progress=cfg.progress,
    )
    print(f"SynthGait set (synthetic data) written to {root}; partition: {partition}")
    return partition


@hydra.main(config_path=str(config_dir()), config_name="synth", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Console entry point `gaitwave-synth`."""
    run(cfg)


if __name__ == "__main__":
    main()
