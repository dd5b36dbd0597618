"""load_sequence: safe pickles (numpy 1.x and 2.x), npz, PNG folders, width rule, errors."""

from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest

try:  # numpy >= 2
    from numpy._core.numeric import _frombuffer
except ImportError:
    from numpy.core.numeric import _frombuffer

from gaitwave.data.readers import SequenceFormatError, UnsafePickleError, load_sequence


def silhouettes(frames: int = 5, height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((frames, height, width)) > 0.5).astype(np.uint8) * 255


def numpy1_spelling(data: bytes) -> bytes:
    """A protocol <= 3 pickle as numpy 1.x writes it (`numpy.core` instead of `numpy._core`)."""
    return data.replace(b"numpy._core.", b"numpy.core.")


class FromBuffer:
    """Pickles as numpy's protocol-5 reconstructor `_frombuffer(bytes, dtype, shape, order)`."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __reduce__(self):
        a = self.array
        return _frombuffer, (a.tobytes(), a.dtype, a.shape, "C")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_of_every_protocol_loads_and_is_cut_to_44(tmp_path, protocol):
    frames = silhouettes()
    path = tmp_path / "000.pkl"
    path.write_bytes(pickle.dumps(frames, protocol=protocol))
    loaded = load_sequence(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, frames[:, :, 10:54])


@pytest.mark.parametrize("protocol", [2, 3])
def test_numpy1_pickles_load(tmp_path, protocol):
    frames = silhouettes(seed=1)
    for name, obj in [("array", frames), ("frombuffer", FromBuffer(frames))]:
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(numpy1_spelling(pickle.dumps(obj, protocol=protocol)))
        np.testing.assert_array_equal(load_sequence(path), frames[:, :, 10:54])


class WritesFile:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Evaluates:
    def __reduce__(self):
        return eval, ("__import__('os').getpid()",)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    for name, payload in [
        ("system", WritesFile(marker)),
        ("inside_list", [silhouettes(), WritesFile(marker)]),
        ("eval", Evaluates()),
    ]:
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(UnsafePickleError) as error:
            load_sequence(path)
        message = str(error.value)
        assert str(path) in message and "numpy array" in message
    assert not marker.exists()


def test_codecs_encode_only_for_latin1(tmp_path):
    path = tmp_path / "rot13.pkl"
    path.write_bytes(b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13tR.")
    with pytest.raises(UnsafePickleError, match="rot13"):
        load_sequence(path)


@pytest.mark.parametrize(
    ("width", "kept"), [(64, slice(10, 54)), (128, slice(20, 108)), (44, None), (88, None)]
)
def test_width_rule(tmp_path, width, kept):
    frames = silhouettes(3, height=width, width=width)
    path = tmp_path / "seq.npz"
    np.savez(path, frames)
    expected = frames if kept is None else frames[:, :, kept]
    assert expected.shape[-1] in (44, 88)
    np.testing.assert_array_equal(load_sequence(path), expected)


def test_other_width_is_an_error(tmp_path):
    path = tmp_path / "seq.pkl"
    path.write_bytes(pickle.dumps(silhouettes(width=50)))
    with pytest.raises(SequenceFormatError, match="width 50") as error:
        load_sequence(path)
    assert str(path) in str(error.value)


def write_bad(tmp_path, name: str, content) -> object:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(pickle.dumps(content))
    return path


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("zero.pkl", b"", "empty (0 bytes)"),
        ("truncated.pkl", pickle.dumps(silhouettes())[:100], "truncated or corrupt"),
        ("empty.pkl", np.zeros((0, 64, 64), np.uint8), "is empty"),
        ("flat.pkl", np.zeros((64, 64), np.uint8), "expected 3 [T, H, W]"),
        ("float.pkl", np.zeros((3, 64, 64), np.float32), "expected uint8"),
        ("dict.pkl", {"frames": silhouettes()}, "not a numpy array"),
        ("seq.npy", b"whatever", "unknown sequence format"),
    ],
)
def test_bad_inputs_name_the_file_and_the_fix(tmp_path, name, content, words):
    path = write_bad(tmp_path, name, content)
    with pytest.raises(SequenceFormatError) as error:
        load_sequence(path)
    message = str(error.value)
    assert str(path) in message
    assert words in message


def test_npz_must_hold_one_array(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, silhouettes(), silhouettes())
    with pytest.raises(SequenceFormatError, match="exactly one array"):
        load_sequence(path)


def test_png_folder_sorted_grayscale(tmp_path):
    frames = silhouettes(4, height=64, width=44, seed=3)
    for position in (2, 0, 3, 1):  # written out of order
        colour = cv2.cvtColor(frames[position], cv2.COLOR_GRAY2BGR)
        cv2.imwrite(str(tmp_path / f"001-nm-01-000-{position:03d}.png"), colour)
    (tmp_path / "notes.txt").write_text("not a frame")
    loaded = load_sequence(tmp_path)
    assert loaded.shape == (4, 64, 44) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, frames)


def test_unreadable_png_names_the_file(tmp_path):
    cv2.imwrite(str(tmp_path / "0001.png"), silhouettes(1, width=44)[0])
    bad = tmp_path / "0002.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(SequenceFormatError, match="unreadable image") as error:
        load_sequence(tmp_path)
    assert str(bad) in str(error.value)


def test_folder_without_frames(tmp_path):
    with pytest.raises(SequenceFormatError, match=r"no \.pkl, \.npz or \.png"):
        load_sequence(tmp_path)
