"""Safe loading of one silhouette sequence: `.pkl`, `.npz` or a folder of PNGs -> uint8 `[T, H, W]`.

Pickle runs code when loaded, so `.pkl` files go through `NumpyOnlyUnpickler`, which resolves
only the few numpy names an array pickle needs (numpy 1.x and 2.x, every pickle protocol) and
refuses everything else before anything runs.

Width rule (OpenGait's load-time cut, applied here so no dataset is cut twice): a stored width of
64 (or 128) loses `W // 64 * 10` columns on each side, giving 44 (or 88); a width of 44 or 88 is
kept as it is; any other width is an error.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import cv2
import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

SEQUENCE_SUFFIXES = (".pkl", ".npz")
STORED_WIDTHS = (64, 128)
CUT_WIDTHS = (44, 88)


class SequenceFormatError(ValueError):
    """A sequence file that cannot be used; the message names the file and the fix."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle that asks for something other than a numpy array; nothing of it was run."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocols 0-2 use it to store bytes, restricted to latin1."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


# (module, name) -> object, for every spelling numpy 1.x and 2.x write into array pickles.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _package in ("numpy.core", "numpy._core"):
    _ALLOWED_GLOBALS[(f"{_package}.multiarray", "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED_GLOBALS[(f"{_package}.multiarray", "scalar")] = _multiarray.scalar
    _ALLOWED_GLOBALS[(f"{_package}.numeric", "_frombuffer")] = _numeric._frombuffer


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays (and plain containers) and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"the pickle asks for '{module}.{name}', which is not part of a numpy array"
            ) from None


def _load_pickle(path: Path) -> object:
    if path.stat().st_size == 0:
        raise SequenceFormatError(
            f"{path}: the pickle is empty (0 bytes); regenerate it (`gaitwave-prepare` for "
            "real data, `gaitwave-synth` for SynthGait) or delete the sequence folder"
        )
    with path.open("rb") as file:
        try:
            return NumpyOnlyUnpickler(file, encoding="latin1").load()
        except UnsafePickleError as error:
            raise UnsafePickleError(
                f"{path}: refused to load: {error}. gaitwave only loads pickles holding a numpy "
                "array, because a pickle can run code; if you trust the file, re-save it as an "
                "array (np.save / np.savez)"
            ) from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise SequenceFormatError(
                f"{path}: the pickle is truncated or corrupt ({error}); regenerate it "
                "(`gaitwave-prepare` for real data, `gaitwave-synth` for SynthGait) or delete "
                "the sequence folder"
            ) from error


def _load_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise SequenceFormatError(
            f"{path}: cannot read the .npz ({error}); regenerate it with np.savez(path, frames)"
        ) from error
    if len(arrays) != 1:
        raise SequenceFormatError(
            f"{path}: expected exactly one array in the .npz, found {len(arrays)} "
            f"({sorted(arrays)}); save one sequence per file with np.savez(path, frames)"
        )
    return next(iter(arrays.values()))


def _load_png_folder(folder: Path) -> np.ndarray:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SequenceFormatError(
            f"{folder}: no .pkl, .npz or .png files in the folder; regenerate the sequence "
            "or delete the folder"
        )
    frames = []
    for file in files:
        frame = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
        if frame is None:
            raise SequenceFormatError(
                f"{file}: unreadable image; replace or delete the file and rerun"
            )
        if frames and frame.shape != frames[0].shape:
            raise SequenceFormatError(
                f"{file}: frame size {frame.shape} differs from {frames[0].shape} in {files[0]}; "
                "pretreat the folder with `gaitwave-prepare` so every frame has one size"
            )
        frames.append(frame)
    return np.stack(frames)


def _raw_array(path: Path) -> object:
    if path.is_dir():
        return _load_png_folder(path)
    if not path.exists():
        raise SequenceFormatError(f"{path}: no such file; rebuild the index of the dataset")
    if path.suffix == ".pkl":
        return _load_pickle(path)
    if path.suffix == ".npz":
        return _load_npz(path)
    raise SequenceFormatError(
        f"{path}: unknown sequence format '{path.suffix}'; use .pkl, .npz or a folder of .png"
    )


def cut_width(frames: np.ndarray, source: Path | str = "<array>") -> np.ndarray:
    """Apply the width rule to uint8 `[T, H, W]`: 64 -> 44, 128 -> 88, 44 and 88 kept."""
    width = frames.shape[-1]
    if width in CUT_WIDTHS:
        return frames
    if width in STORED_WIDTHS:
        side = width // 64 * 10
        return frames[..., side : width - side]
    raise SequenceFormatError(
        f"{source}: frame width {width} is neither a stored width {STORED_WIDTHS} (cut to "
        f"{CUT_WIDTHS}) nor an already cut one; pretreat the raw frames with `gaitwave-prepare`"
    )


def load_sequence(path: Path | str) -> np.ndarray:
    """Load one sequence as uint8 `[T, H, W]` (width rule applied), or raise a clear error.

    Args:
        path: a `.pkl` (a pickled numpy array, loaded safely), a `.npz` holding one array,
            or a folder of grayscale `.png` frames (sorted by name).
    """
    path = Path(path)
    array = _raw_array(path)
    if not isinstance(array, np.ndarray):
        raise SequenceFormatError(
            f"{path}: holds a {type(array).__name__}, not a numpy array; store one uint8 "
            "array [T, H, W] per file"
        )
    if array.ndim != 3:
        raise SequenceFormatError(
            f"{path}: array of shape {array.shape} has {array.ndim} dimensions, expected 3 "
            "[T, H, W]; store one sequence of 2D frames per file"
        )
    if array.size == 0:
        raise SequenceFormatError(
            f"{path}: the sequence is empty (shape {array.shape}); regenerate it or delete the "
            "sequence folder"
        )
    if array.dtype != np.uint8:
        raise SequenceFormatError(
            f"{path}: dtype {array.dtype}, expected uint8 silhouettes in 0..255; convert with "
            "(frames * 255).astype(np.uint8) for 0..1 floats or frames.astype(np.uint8)"
        )
    return np.ascontiguousarray(cut_width(array, path))
