"""The two on-disk layouts: writing sequences (and reading them back as the loaders give them);
the set's parameters file.

- `pkl`: the OpenGait layout `root/<id>/<type>/<view>/<view>.pkl`, one pickled uint8 array
  `[T, 64, 64]` made by the pretreatment from the full-resolution renders.
- `png`: the raw CASIA-B layout `root/<id>/<type>/<view>/<id>-<type>-<view>-<frame>.png`, 320 x 240
  binary frames numbered from 001.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gaitwave.data.pretreatment import PretreatmentReport, pretreat_frames, pretreat_frames_report
from gaitwave.data.readers import cut_width, load_sequence
from gaitwave.data.storage import write_pickle

FORMATS = ("pkl", "png")
PARAMETERS_FILE = "synthgait.json"


def sequence_dir(root: Path, subject: str, seq_type: str, view: str) -> Path:
    return root / subject / seq_type / view


def write_pkl(folder: Path, view: str, frames: np.ndarray) -> PretreatmentReport:
    """Pretreat raw frames `[T, 240, 320]` and pickle the uint8 `[T', 64, 64]` result."""
    report = pretreat_frames_report(frames)
    if report.kept == 0:
        raise RuntimeError(f"{folder}: every frame was dropped by the pretreatment")
    write_pickle(folder / f"{view}.pkl", report.frames)
    return report


def write_png(folder: Path, name: str, frames: np.ndarray) -> None:
    """Write raw frames `[T, 240, 320]` as `<name>-001.png`, `<name>-002.png`, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames, start=1):
        path = folder / f"{name}-{index:03d}.png"
        if not cv2.imwrite(str(path), frame):
            raise OSError(f"{path}: cv2.imwrite failed (is the disk full or read-only?)")


def read_sequence(folder: Path, view: str) -> np.ndarray:
    """A written sequence as the loaders give it: uint8 `[T, 64, 44]` (PNGs are pretreated)."""
    pkl = folder / f"{view}.pkl"
    if pkl.is_file():
        return load_sequence(pkl)
    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        raise FileNotFoundError(f"{folder}: neither {view}.pkl nor PNG frames")
    frames = []
    for path in pngs:
        frame = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if frame is None:
            raise OSError(f"{path}: unreadable PNG; regenerate the set")
        frames.append(frame)
    return cut_width(pretreat_frames(frames), folder)
