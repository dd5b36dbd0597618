"""Where the Hydra configs live, and the helpers every entry point shares."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

CONFIG_DIR_ENV = "GAITWAVE_CONFIG_DIR"


def config_dir() -> Path:
    """The `conf/` folder: `$GAITWAVE_CONFIG_DIR`, else the repository's top-level `conf/`
    (editable install), else `./conf` in the working directory."""
    candidates = []
    if os.environ.get(CONFIG_DIR_ENV):
        candidates.append(Path(os.environ[CONFIG_DIR_ENV]))
    candidates += [Path(__file__).resolve().parents[2] / "conf", Path.cwd() / "conf"]
    for path in candidates:
        if (path / "train.yaml").is_file():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"gaitwave cannot find its config folder (tried {tried}). Run from the repository root, "
        f"or set {CONFIG_DIR_ENV}=/path/to/gaitwave/conf."
    )


def project_root() -> Path:
    """The folder that holds `conf/`, `data/` and `outputs/` (the repository root)."""
    return config_dir().parent


def register_resolvers() -> None:
    """`${project_root:}` in configs: the repository root as an absolute path."""
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(project_root()))


register_resolvers()
