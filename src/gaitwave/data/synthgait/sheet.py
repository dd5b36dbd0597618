"""A contact sheet of a generated set: rows are ids x conditions, columns are views.

Each cell shows a few frames of one sequence as the loaders give them (pretreated, 64 x 44 after
the width cut), spread over the first gait cycle (about 27 frames at 25 fps), so alternating legs
and swinging arms show side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from gaitwave.data.pretreatment import OUTPUT_SIZE
from gaitwave.data.synthgait.writers import PARAMETERS_FILE, read_sequence

SHEET_TYPES = ("nm-01", "bg-01", "cl-01")
CYCLE_FRAMES = 27  # a stride at 110 steps/min and 25 fps
ZOOM = 2
TILE_WIDTH = 44  # frame width after the loaders' cut
LABEL_WIDTH = 150
HEADER_HEIGHT = 28
GAP = 6


def _cell(frames: np.ndarray, count: int) -> np.ndarray:
    """`count` frames `[H, W]` side by side `[H, W * count]`, evenly over the first gait cycle."""
    if len(frames) == 0:
        return np.zeros((OUTPUT_SIZE, TILE_WIDTH * count), np.uint8)
    picks = np.linspace(0, min(CYCLE_FRAMES, len(frames)) - 1, count).round().astype(int)
    return np.concatenate([frames[i] for i in picks], axis=1)


def write_contact_sheet(
    root: Path | str, out: Path | str, num_ids: int = 4, frames_per_cell: int = 4
) -> Path:
    """Write a PNG grid of the set at `root`: the first `num_ids` ids x (nm-01, bg-01, cl-01)
    rows, one column per view; returns the PNG's path."""
    root, out = Path(root), Path(out)
    if not (root / PARAMETERS_FILE).is_file():
        raise FileNotFoundError(f"{root} holds no SynthGait set ({PARAMETERS_FILE} is missing)")
    parameters = json.loads((root / PARAMETERS_FILE).read_text())
    views = parameters["views"]
    ids = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit())[:num_ids]
    cell_w = TILE_WIDTH * frames_per_cell * ZOOM
    cell_h = OUTPUT_SIZE * ZOOM
    rows = len(ids) * len(SHEET_TYPES)
    width = LABEL_WIDTH + len(views) * (cell_w + GAP)
    height = HEADER_HEIGHT + rows * (cell_h + GAP)
    sheet = np.full((height, width), 40, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for j, view in enumerate(views):
        x = LABEL_WIDTH + j * (cell_w + GAP)
        cv2.putText(sheet, f"{view} deg", (x + 4, 20), font, 0.6, 255, 1, cv2.LINE_AA)
    for i, (subject, seq_type) in enumerate((s, t) for s in ids for t in SHEET_TYPES):
        y = HEADER_HEIGHT + i * (cell_h + GAP)
        cv2.putText(sheet, f"{subject} {seq_type}", (6, y + cell_h // 2), font, 0.6, 255, 1)
        for j, view in enumerate(views):
            folder = root / subject / seq_type / view
            frames = read_sequence(folder, view) if folder.is_dir() else np.zeros((0, 64, 44))
            tile = _cell(frames.astype(np.uint8), frames_per_cell)
            x = LABEL_WIDTH + j * (cell_w + GAP)
            sheet[y : y + cell_h, x : x + cell_w] = cv2.resize(
                tile, (cell_w, cell_h), interpolation=cv2.INTER_NEAREST
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError(f"{out}: cv2.imwrite failed (is the folder writable, the suffix .png?)")
    return out
