"""Writing dataset files: pickled sequences and JSON, each atomically.

Shared by the writers of prepared datasets (`gaitwave-prepare`) and of generated ones
(SynthGait). A file is written to a temporary name and renamed into place, so an interrupted run
never leaves a truncated file that a resumed run would take as done.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np

PICKLE_PROTOCOL = 4  # fixed, so the bytes do not depend on the Python version


def write_pickle(path: Path, frames: np.ndarray) -> None:
    """Pickle uint8 frames `[T, H, W]` (a plain pickle of the contiguous array) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        pickle.dump(np.ascontiguousarray(frames), file, protocol=PICKLE_PROTOCOL)
    os.replace(tmp, path)


def write_json(path: Path, content: dict) -> None:
    """Write `content` as indented JSON to `path`."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(tmp, path)
