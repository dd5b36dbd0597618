"""gaitwave-prepare: each shipped layout to the pickle layout, bad inputs, resume, workers, and
the whole path SynthGait PNGs -> prepare -> train -> evaluate."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from gaitwave.config import config_dir
from gaitwave.data.index import DatasetLayoutError, load_partition
from gaitwave.data.pretreatment import DROP_DARK, DROP_NO_CENTRE, pretreat_frames
from gaitwave.data.readers import load_sequence
from gaitwave.data.synthgait import generate
from gaitwave.data.synthgait.sequence import SequenceKey, render_sequence
from gaitwave.prepare import PrepareError, main, prepare_dataset

SEED = 7
TINY_SET = {"preset": "ci", "seed": SEED, "workers": 1, "num_ids": 2, "frames": 8, "views": [90]}


def render(subject: int, seq_type: str = "nm-01", view: int = 90, frames: int = 8) -> np.ndarray:
    """Raw SynthGait frames uint8 `[T, 240, 320]`."""
    return render_sequence(SequenceKey(SEED, subject, seq_type, view), frames)


def write_pngs(folder: Path, frames, names=None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{i:04d}.png" for i in range(1, len(frames) + 1)]
    paths = []
    for name, frame in zip(names, frames, strict=True):
        assert cv2.imwrite(str(folder / name), frame)
        paths.append(folder / name)
    return paths


def read_pngs(folder: Path) -> list[np.ndarray]:
    """The folder's PNG frames, sorted by name, read the way the reference recipe reads them."""
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("*.png"))]


def load_pickle(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        return pickle.load(f)


def pickle_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.pkl"))}


def prepare(raw: Path, out: Path, layout: str, **kwargs):
    return prepare_dataset(raw, out, layout, kwargs.pop("workers", 1), progress=False, **kwargs)


# --- CASIA-B ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def casiab_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SynthGait in the raw CASIA-B PNG layout: 2 ids x 10 types x 1 view."""
    raw = tmp_path_factory.mktemp("casiab") / "raw"
    generate(raw, format="png", progress=False, **TINY_SET)
    return raw


def test_casiab_matches_the_pretreatment_of_the_pngs(casiab_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = prepare(casiab_raw, out, "casiab")
    folders = sorted(p.parent for p in casiab_raw.rglob("*.png"))
    folders = sorted(set(folders))
    assert summary.sequences_found == summary.written == len(folders) == 20
    for folder in folders:
        subject, seq_type, view = folder.relative_to(casiab_raw).parts
        stored = load_pickle(out / subject / seq_type / view / f"{view}.pkl")
        expected = pretreat_frames(read_pngs(folder))
        assert stored.dtype == np.uint8 and stored.shape[1:] == (64, 64)
        np.testing.assert_array_equal(stored, expected)
    assert summary.frames_read == len(list(casiab_raw.rglob("*.png")))
    dropped = sum(summary.frames_dropped.values())
    assert summary.frames_kept == summary.frames_read - dropped
    assert not summary.unreadable and not summary.misplaced and not summary.empty

    partition = json.loads((out / "partition.json").read_text())
    assert partition["TRAIN_SET"] == [f"{i:03d}" for i in range(1, 75)]
    assert partition["TEST_SET"] == [f"{i:03d}" for i in range(75, 125)]
    saved = json.loads((out / "prepare_summary.json").read_text())
    assert saved["written"] == 20 and saved["partition"] == str(out / "partition.json")


def test_casiab_pickles_equal_synthgaits_own_pretreated_set(
    casiab_raw: Path, tmp_path: Path
) -> None:
    """SynthGait pickles its pretreated renders directly; PNG -> prepare gives the same bytes."""
    direct = tmp_path / "direct"
    generate(direct, format="pkl", progress=False, **TINY_SET)
    prepare(casiab_raw, tmp_path / "out", "casiab")
    assert pickle_tree(tmp_path / "out") == pickle_tree(direct)


def test_partition_rules_are_the_index_rules(tmp_path: Path) -> None:
    """A partition file the datamodule's index refuses, prepare refuses with the same message
    (one set of rules, in gaitwave.data.index); prepare adds the rules of a prepared dataset."""
    write_pngs(tmp_path / "raw" / "075" / "nm-01" / "090", render(75, frames=6))
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"TRAIN_SET": ["001"], "TEST_SET": ["075"], "PROBE_SET": "x"}))
    with pytest.raises(DatasetLayoutError) as refused:
        load_partition(given)
    with pytest.raises(PrepareError) as prepare_refused:
        prepare(tmp_path / "raw", tmp_path / "out", "casiab", partition=given)
    assert str(prepare_refused.value) == str(refused.value)
    assert "'PROBE_SET' is not a list" in str(refused.value)
    given.write_text(json.dumps({"TRAIN_SET": ["001"], "TEST_SET": ["075"]}))
    assert prepare(tmp_path / "raw", tmp_path / "out", "casiab", partition=given).written == 1


def test_workers_do_not_change_the_bytes(casiab_raw: Path, tmp_path: Path) -> None:
    one = prepare(casiab_raw, tmp_path / "one", "casiab", workers=1)
    two = prepare(casiab_raw, tmp_path / "two", "casiab", workers=2)
    assert pickle_tree(tmp_path / "one") == pickle_tree(tmp_path / "two")
    assert len(pickle_tree(tmp_path / "one")) == 20
    assert one.frames_dropped == two.frames_dropped and one.frames_kept == two.frames_kept


def test_resume_skips_written_sequences_and_overwrite_rewrites(
    casiab_raw: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    prepare(casiab_raw, out, "casiab")
    removed = out / "001" / "cl-02" / "090" / "090.pkl"
    removed.unlink()
    kept = out / "002" / "nm-01" / "090" / "090.pkl"
    kept.write_bytes(b"stale")  # a resumed run leaves existing files alone

    resumed = prepare(casiab_raw, out, "casiab")
    assert (resumed.written, resumed.skipped_existing) == (1, 19)
    assert removed.is_file() and kept.read_bytes() == b"stale"

    again = prepare(casiab_raw, out, "casiab", overwrite=True)
    assert (again.written, again.skipped_existing) == (20, 0)
    np.testing.assert_array_equal(
        load_pickle(kept), pretreat_frames(read_pngs(casiab_raw / "002" / "nm-01" / "090"))
    )


# --- bad inputs -------------------------------------------------------------------------------


def test_bad_inputs_are_reported_and_skipped(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    frames = render(1, frames=10)
    black = np.zeros_like(frames[0])
    seq = raw / "001" / "nm-01" / "090"
    good = write_pngs(seq, [*frames[:6], black, black], [f"f{i:02d}.png" for i in range(8)])
    (seq / "f20.png").write_bytes(np.random.default_rng(0).bytes(300))  # random bytes
    (seq / "f21.png").write_bytes(b"")  # zero bytes
    whole = cv2.imencode(".png", frames[7])[1].tobytes()
    (seq / "f22.png").write_bytes(whole[: len(whole) // 2])  # truncated
    (seq / "notes.txt").write_text("not a frame")

    write_pngs(raw / "001" / "nm-02" / "090", frames[:3])  # fewer than 5 frames
    write_pngs(raw / "001" / "nm-03" / "090", [black, black])  # every frame dropped
    (raw / "001" / "nm-04" / "090").mkdir(parents=True)  # an empty sequence folder
    write_pngs(raw / "001" / "nm-05", frames[:1], ["stray.png"])  # one level too shallow

    summary = prepare(raw, out, "casiab")

    np.testing.assert_array_equal(
        load_pickle(out / "001" / "nm-01" / "090" / "090.pkl"),
        pretreat_frames([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in good]),
    )
    assert set(summary.unreadable) == {str(seq / f"f{i}.png") for i in (20, 21, 22)}
    assert "0 bytes" in summary.unreadable[str(seq / "f21.png")]
    assert "truncated" in summary.unreadable[str(seq / "f22.png")]
    assert summary.frames_dropped == {DROP_DARK: 4, DROP_NO_CENTRE: 0}
    assert summary.few_frames == {"001/nm-02/090": 3}
    assert set(summary.empty) == {"001/nm-03/090", "001/nm-04/090"}
    assert "all 2 frames dropped" in summary.empty["001/nm-03/090"]
    assert summary.misplaced == [str(raw / "001" / "nm-05" / "stray.png")]
    assert summary.written == 2 and summary.sequences_found == 3
    assert not (out / "001" / "nm-03").exists()
    saved = json.loads((out / "prepare_summary.json").read_text())
    assert saved["few_frames"] == {"001/nm-02/090": 3}


def test_wrong_layout_and_arguments_say_what_is_expected(tmp_path: Path) -> None:
    write_pngs(tmp_path / "raw" / "001" / "nm-01", render(1, frames=2))  # CASIA-B one level short
    with pytest.raises(PrepareError, match=r"raw/<id>/<type>/<view>/\*\.png.*0001\.png"):
        prepare(tmp_path / "raw", tmp_path / "out", "casiab")
    with pytest.raises(PrepareError, match="inside raw"):
        prepare(tmp_path / "raw", tmp_path / "raw" / "out", "oumvlp")
    with pytest.raises(ValueError, match="layout='casia'"):
        prepare(tmp_path / "raw", tmp_path / "out", "casia")
    with pytest.raises(PrepareError, match="no such folder"):
        prepare(tmp_path / "none", tmp_path / "out", "casiab")


# --- OU-MVLP ----------------------------------------------------------------------------------


def test_oumvlp_becomes_id_seq_view_and_needs_a_partition(tmp_path: Path) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    sources = {}
    for subject in (1, 2):
        for view in (0, 90):
            for seq in ("00", "01"):
                folder = raw / f"Silhouette_{view:03d}-{seq}" / f"{subject:05d}"
                write_pngs(folder, render(subject, "nm-01" if seq == "00" else "nm-02", view, 6))
                sources[(f"{subject:05d}", seq, f"{view:03d}")] = folder
    summary = prepare(raw, out, "oumvlp")
    assert summary.written == len(sources) == 8
    for (subject, seq, view), folder in sources.items():
        np.testing.assert_array_equal(
            load_pickle(out / subject / seq / view / f"{view}.pkl"),
            pretreat_frames(read_pngs(folder)),
        )
    assert summary.partition is None and "partition=PATH" in summary.partition_note
    assert not (out / "partition.json").exists()

    given = tmp_path / "OUMVLP.json"
    given.write_text(json.dumps({"TRAIN_SET": ["00001"], "TEST_SET": ["00002"]}))
    again = prepare(raw, out, "oumvlp", partition=given)
    assert again.skipped_existing == 8
    assert json.loads((out / "partition.json").read_text()) == json.loads(given.read_text())

    given.write_text(json.dumps({"TRAIN_SET": ["00001"], "TEST_SET": ["00001"]}))
    with pytest.raises(PrepareError, match="both TRAIN_SET and TEST_SET"):
        prepare(raw, out, "oumvlp", partition=given)
    given.write_text(json.dumps({"TRAIN_SET": [1], "TEST_SET": ["00002"]}))
    with pytest.raises(PrepareError, match=r"TRAIN_SET.*list of id strings"):
        prepare(raw, out, "oumvlp", partition=given)


# --- Gait3D -----------------------------------------------------------------------------------


def crop(frame: np.ndarray, margin: int) -> np.ndarray:
    """A person crop with `margin` pixels around the silhouette (Gait3D ships crops)."""
    rows, cols = np.flatnonzero(frame.any(1)), np.flatnonzero(frame.any(0))
    top, left = max(rows[0] - margin, 0), max(cols[0] - margin, 0)
    return np.ascontiguousarray(frame[top : rows[-1] + margin, left : cols[-1] + margin])


def test_gait3d_crops_of_varying_size_and_its_probe_set(tmp_path: Path) -> None:
    raw, out = tmp_path / "2D_Silhouettes", tmp_path / "out"
    sequences = {
        ("0000", "camid0_videoid2", "seq0"): render(1, view=72),
        ("0000", "camid3_videoid1", "seq1"): render(1, "nm-02", 108),
        ("0001", "camid0_videoid2", "seq0"): render(2, view=90),
    }
    for (subject, camera, seq), frames in sequences.items():
        crops = [crop(frame, margin) for margin, frame in enumerate(frames, start=3)]
        names = [f"human_crop_f{1000 + 7 * i:05d}.png" for i in range(len(crops))]
        write_pngs(raw / subject / camera / seq, crops, names)
    partition = tmp_path / "Gait3D.json"
    partition.write_text(
        json.dumps(
            {
                "TRAIN_SET": ["0001"],
                "TEST_SET": ["0000"],
                "PROBE_SET": ["0000-camid0_videoid2-seq0"],
            }
        )
    )
    summary = prepare(raw, out, "gait3d", partition=partition)
    assert summary.written == 3
    for subject, camera, seq in sequences:
        np.testing.assert_array_equal(
            load_pickle(out / subject / camera / seq / f"{seq}.pkl"),
            pretreat_frames(read_pngs(raw / subject / camera / seq)),
        )
    assert json.loads((out / "partition.json").read_text())["PROBE_SET"] == [
        "0000-camid0_videoid2-seq0"
    ]

    partition.write_text(json.dumps({"TRAIN_SET": ["0001"], "TEST_SET": ["0000"]}))
    with pytest.raises(PrepareError, match="PROBE_SET"):
        prepare(raw, out, "gait3d", partition=partition)
    partition.write_text(
        json.dumps({"TRAIN_SET": ["0001"], "TEST_SET": ["0000"], "PROBE_SET": ["0001-cam-seq0"]})
    )
    with pytest.raises(PrepareError, match="'0001-cam-seq0'"):
        prepare(raw, out, "gait3d", partition=partition)
    assert "Gait3D.json" in prepare(raw, tmp_path / "bare", "gait3d").partition_note


# --- GREW -------------------------------------------------------------------------------------


def aligned(subject: int, seq_type: str, view: int) -> np.ndarray:
    """64 x 64 aligned silhouettes, as GREW ships them."""
    return pretreat_frames(render(subject, seq_type, view, 6))


def test_grew_is_stored_as_shipped_with_probe_and_gallery_types(tmp_path: Path) -> None:
    raw, out = tmp_path / "GREW", tmp_path / "out"
    gallery = raw / "test" / "gallery" / "00001"
    shipped = {  # key in the pickle layout: (shipped folder, frames)
        ("00001train", "00", "4XPn5Z28"): (raw / "train" / "00001" / "4XPn5Z28", (1, "nm-01", 90)),
        ("00001", "01", "79XJefi8"): (gallery / "79XJefi8", (2, "nm-01", 90)),
        ("00001", "02", "t16VLaQf"): (gallery / "t16VLaQf", (2, "nm-02", 54)),
        ("probe", "03", "etaGVnWf"): (raw / "test" / "probe" / "etaGVnWf", (2, "nm-03", 126)),
    }
    shipped = {key: (folder, aligned(*args)) for key, (folder, args) in shipped.items()}
    for folder, frames in shipped.values():
        write_pngs(folder, frames, [f"{i:05d}.png" for i in range(1, len(frames) + 1)])
        (folder / "00001_2d_pose.txt").write_text("0,0")
        cv2.imwrite(str(folder.parent / f"{folder.name}_gei.png"), frames.mean(0).astype(np.uint8))
    distractors = write_pngs(raw / "distractor" / "edXJefi8", aligned(3, "nm-01", 90))

    summary = prepare(raw, out, "grew")
    assert not summary.pretreated and summary.written == 4 and not summary.misplaced
    assert summary.ignored_files == 4 + len(distractors)  # four GEIs and the distractor set
    for (subject, seq_type, view), (_, frames) in shipped.items():
        path = out / subject / seq_type / view / f"{view}.pkl"
        np.testing.assert_array_equal(load_pickle(path), frames)  # not pretreated twice
        assert load_sequence(path).shape == (len(frames), 64, 44)  # the width rule holds
    assert summary.frames_dropped == {DROP_DARK: 0, DROP_NO_CENTRE: 0}
    assert json.loads((out / "partition.json").read_text()) == {
        "TRAIN_SET": ["00001train"],
        "TEST_SET": ["00001", "probe"],
    }

    given = tmp_path / "GREW.json"
    given.write_text(json.dumps({"TRAIN_SET": ["00001train"], "TEST_SET": ["00001"]}))
    with pytest.raises(PrepareError, match='add "probe"'):
        prepare(raw, out, "grew", partition=given)


def test_grew_frames_of_another_size_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "GREW" / "train" / "00002" / "seq"
    frames = aligned(1, "nm-01", 90)
    write_pngs(folder, [*frames, np.zeros((64, 50), np.uint8)])
    summary = prepare(tmp_path / "GREW", tmp_path / "out", "grew")
    assert list(summary.unreadable.values()) == [
        "width 50: aligned frames must be (64, 128) wide (or (44, 88) already cut); "
        "prepare raw frames with pretreat=true"
    ]
    assert summary.frames_kept == len(frames)


# --- the console script -----------------------------------------------------------------------


def compose_prepare(*overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("prepare", overrides=list(overrides))


def test_app_overrides_reach_prepare(casiab_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    partition = casiab_raw / "partition.json"
    overrides = [f"raw={casiab_raw}", f"out={out}", "workers=1", f"partition={partition}"]
    main(compose_prepare(*overrides, "progress=false"))
    saved = json.loads((out / "prepare_summary.json").read_text())
    assert saved["layout"] == "casiab" and saved["workers"] == 1 and saved["written"] == 20
    assert (out / "partition.json").read_text() == (casiab_raw / "partition.json").read_text()


@pytest.mark.slow
def test_synth_png_prepare_train_evaluate(
    tmp_path: Path, tiny_train_config, compose_config
) -> None:
    """gaitwave-synth format=png -> gaitwave-prepare -> gaitwave-train debug=tiny -> evaluate."""
    from gaitwave.eval import evaluate_checkpoint
    from gaitwave.synth import main as synth_main
    from gaitwave.train import train

    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    tiny = ["preset=ci", "num_ids=8", "frames=8", "views=[0,90]", "workers=2", "progress=false"]
    synth_main(compose_config("synth", f"root={raw}", "format=png", *tiny))
    partition = raw / "partition.json"
    main(compose_config("prepare", f"raw={raw}", f"out={prepared}", f"partition={partition}"))
    assert len(list(prepared.rglob("*.pkl"))) == 8 * 10 * 2

    run = tmp_path / "run"
    steps = ["trainer.max_steps=4", "trainer.val_check_interval=4"]
    root = f"data.datamodule.root={prepared}"
    metrics = train(tiny_train_config(run, tmp_path / "data", "debug=tiny", root, *steps))
    for key in ("NM/rank1", "BG/rank1", "CL/rank1", "mean/rank1"):
        assert 0.0 <= metrics[key] <= 100.0
    ckpt, eval_out = run / "checkpoints" / "last.ckpt", tmp_path / "eval"
    eval_cfg = compose_config(
        "eval", f"ckpt={ckpt}", f"paths.output_dir={eval_out}", "trainer.enable_progress_bar=false"
    )
    again = evaluate_checkpoint(eval_cfg)
    assert again == pytest.approx(metrics)
