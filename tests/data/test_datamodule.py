"""GaitDataModule: train batches, test batches (coverage, lengths, padding), ranks, resume."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch

from gaitwave.data.datamodule import GaitDataModule
from gaitwave.data.transforms import RandomHorizontalFlip

TRAIN_IDS = [f"{i:03d}" for i in range(1, 7)]
TEST_IDS = [f"{i:03d}" for i in range(7, 10)]


def write_dataset(root: Path) -> dict[tuple[str, str, str], np.ndarray]:
    """Random silhouettes [T, 64, 64] (T in 3..40) in the pickle layout; returns them cut to 44."""
    rng = np.random.default_rng(0)
    stored = {}
    for id_ in [*TRAIN_IDS, *TEST_IDS, "099"]:  # 099 is in neither list
        for type_ in ("nm-01", "bg-01"):
            for view in ("000", "090"):
                frames = (rng.random((int(rng.integers(3, 41)), 64, 64)) > 0.5) * 255
                folder = root / id_ / type_ / view
                folder.mkdir(parents=True)
                (folder / f"{view}.pkl").write_bytes(pickle.dumps(frames.astype(np.uint8)))
                stored[(id_, type_, view)] = frames[:, :, 10:54].astype(np.uint8)
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": TRAIN_IDS, "TEST_SET": TEST_IDS}))
    (root / "synthgait.yaml").write_text("preset: ci\n")
    return stored


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    return root, write_dataset(root)


def make(root: Path, **overrides) -> GaitDataModule:
    args = dict(root=root, sampler=[3, 4], train_frames=8, test_batch_size=5, seed=0)
    return GaitDataModule(**(args | overrides))


def take(loader, count: int) -> list:
    iterator = iter(loader)
    return [next(iterator) for _ in range(count)]


def fake_trainer(rank: int = 0, world_size: int = 1, global_step: int = 0):
    return SimpleNamespace(
        global_rank=rank, world_size=world_size, global_step=global_step, accumulate_grad_batches=1
    )


def test_train_batches(dataset):
    root, stored = dataset
    dm = make(root)
    dm.setup("fit")
    assert dm.num_classes == len(TRAIN_IDS)
    frames_by_label = {
        dm.train_index.label_of[id_]: np.concatenate(
            [v for k, v in stored.items() if k[0] == id_]
        ).reshape(-1, 64 * 44)
        for id_ in TRAIN_IDS
    }
    for frames, labels in take(dm.train_dataloader(), 5):
        assert frames.shape == (12, 8, 64, 44) and frames.dtype == torch.float32
        assert labels.shape == (12,) and labels.dtype == torch.int64
        assert frames.min() >= 0.0 and frames.max() <= 1.0
        assert sorted(torch.bincount(labels).tolist())[-3:] == [4, 4, 4]
        # every clip frame is a stored frame of a sequence of that label
        for clip, label in zip(frames, labels.tolist(), strict=True):
            pixels = (clip.reshape(8, -1).numpy() * 255).round().astype(np.uint8)
            source = frames_by_label[label]
            assert all((source == frame).all(axis=1).any() for frame in pixels)


def test_resize_and_ordered_mode(dataset):
    root, _ = dataset
    dm = make(root, height=32, width=22, frame_mode="fixed_ordered", skip=2)
    frames, _ = take(dm.train_dataloader(), 1)[0]
    assert frames.shape == (12, 8, 32, 22)
    batch = take(dm.test_dataloader(), 1)[0]
    assert batch["frames"].shape[2:] == (32, 22)


def test_unfixed_mode_one_length_per_batch(dataset):
    root, _ = dataset
    dm = make(root, frame_mode="unfixed_unordered", train_frames_range=[4, 9])
    lengths = {frames.shape[1] for frames, _ in take(dm.train_dataloader(), 12)}
    assert lengths <= set(range(4, 10)) and len(lengths) > 1


@pytest.mark.parametrize("cache", [False, True])
def test_test_batches_cover_every_sequence_once(dataset, cache):
    root, stored = dataset
    cap = 30
    dm = make(root, cache=cache, test_frames_cap=cap)
    batches = list(dm.test_dataloader())
    index = torch.cat([b["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(len(dm.test_records)))
    assert len(dm.test_records) == len(TEST_IDS) * 4
    assert all(len(b["index"]) <= 5 for b in batches)
    for batch in batches:
        frames, lengths = batch["frames"], batch["lengths"]
        assert frames.dtype == torch.float32 and lengths.dtype == torch.int64
        assert frames.shape[1] == lengths.max()
        for row, position in enumerate(batch["index"].tolist()):
            record = dm.test_records[position]
            expected = stored[(record.id, record.type, record.view)][:cap]
            assert lengths[row] == len(expected)
            actual = frames[row, : len(expected)].numpy() * 255
            np.testing.assert_allclose(actual, expected, atol=1e-3)
            assert torch.all(frames[row, len(expected) :] == 0)  # padding


def test_test_batches_sorted_by_length_reduce_padding(dataset):
    root, _ = dataset
    batches = list(make(root, cache=True).test_dataloader())
    maxima = [int(b["lengths"].max()) for b in batches]
    assert maxima == sorted(maxima)


def test_deterministic_and_independent_of_workers_and_cache(dataset):
    root, _ = dataset
    transforms = [RandomHorizontalFlip(0.5)]
    reference = take(make(root, train_transforms=transforms).train_dataloader(), 3)
    for overrides in [dict(), dict(num_workers=2), dict(cache=True)]:
        dm = make(root, train_transforms=transforms, **overrides)
        for (f1, l1), (f2, l2) in zip(reference, take(dm.train_dataloader(), 3), strict=True):
            assert torch.equal(f1, f2) and torch.equal(l1, l2)
    other = take(make(root, seed=1).train_dataloader(), 1)[0]
    assert not torch.equal(other[0], reference[0][0])


def test_two_ranks_split_the_global_batch(dataset):
    root, _ = dataset
    whole = take(make(root).train_dataloader(), 2)
    shares = []
    for rank in range(2):
        dm = make(root)
        dm.trainer = fake_trainer(rank, world_size=2)
        shares.append(take(dm.train_dataloader(), 2))
    for number, (frames, labels) in enumerate(whole):
        assert torch.equal(torch.cat([s[number][0] for s in shares]), frames)
        assert torch.equal(torch.cat([s[number][1] for s in shares]), labels)
    test_indexes = []
    for rank in range(2):
        dm = make(root)
        dm.trainer = fake_trainer(rank, world_size=2)
        test_indexes += [i for b in dm.val_dataloader() for i in b["index"].tolist()]
    assert sorted(test_indexes) == list(range(len(dm.test_records)))


def test_resume_continues_the_stream(dataset):
    root, _ = dataset
    stream = take(make(root).train_dataloader(), 4)
    dm = make(root)
    dm.trainer = fake_trainer(global_step=3)
    frames, labels = take(dm.train_dataloader(), 1)[0]
    assert torch.equal(frames, stream[3][0]) and torch.equal(labels, stream[3][1])


def test_missing_data_says_how_to_generate_it(tmp_path, dataset):
    with pytest.raises(FileNotFoundError, match=r"gaitwave-synth root=.*make synth"):
        make(tmp_path / "nowhere").setup("fit")
    root, _ = dataset
    dm = make(root, partition=tmp_path / "none.json")
    with pytest.raises(FileNotFoundError, match=r"gaitwave-synth root=.*make synth"):
        dm.setup("fit")


def test_bad_arguments(dataset):
    root, _ = dataset
    with pytest.raises(ValueError, match=r"\[P, K\]"):
        make(root, sampler=[8])
    with pytest.raises(ValueError, match="set both"):
        make(root, height=32)
    with pytest.raises(ValueError, match="frame_mode"):
        make(root, frame_mode="shuffled")
    with pytest.raises(ValueError, match="only 6"):
        make(root, sampler=[7, 2]).train_dataloader()


class ShapeRecorder(L.LightningModule):
    """Records what the Trainer feeds it; one parameter so the optimiser has work."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.train_shapes, self.val_indexes = [], []

    def training_step(self, batch, batch_idx):
        frames, labels = batch
        self.train_shapes.append((tuple(frames.shape), tuple(labels.shape)))
        return self.weight * frames.mean()

    def validation_step(self, batch, batch_idx):
        self.val_indexes += batch["index"].tolist()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_by_steps(dataset):
    root, _ = dataset
    dm, module = make(root), ShapeRecorder()
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=3,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=dm)
    assert module.train_shapes == [((12, 8, 64, 44), (12,))] * 3
    assert sorted(module.val_indexes) == list(range(len(dm.test_records)))


def test_test_probe_mask_from_probe_set(tmp_path, caplog):
    root = tmp_path / "gait3d"
    write_dataset(root)
    dm = make(root)
    assert dm.test_probe_mask is None  # no PROBE_SET in the partition
    probes = ["007-nm-01-000", "009-bg-01-090"]
    strays = ["001-nm-01-000", "123-nm-01-000"]  # a training sequence, a sequence not on disk
    partition = json.loads((root / "partition.json").read_text())
    (root / "probes.json").write_text(json.dumps(partition | {"PROBE_SET": probes + strays}))
    dm = make(root, partition=root / "probes.json")
    with caplog.at_level(logging.WARNING, logger="gaitwave.data.datamodule"):
        mask = dm.test_probe_mask
    assert len(mask) == len(dm.test_records)
    flagged = [f"{r.id}-{r.type}-{r.view}" for r, m in zip(dm.test_records, mask, strict=True) if m]
    assert flagged == probes
    assert "2 PROBE_SET entries match no test sequence" in caplog.text
    assert all(entry in caplog.text for entry in strays)


def test_missing_prepared_dataset_names_the_key_and_the_command(tmp_path):
    missing = tmp_path / "casiab"
    dm = make(missing, layout="casiab")
    with pytest.raises(FileNotFoundError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert "data.datamodule.root" in message
    assert f"gaitwave-prepare raw=<raw casiab tree> out={missing} layout=casiab" in message
    missing.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        make(missing, layout="gait3d").setup("fit")
    message = str(error.value)
    assert "data.datamodule.partition" in message and "layout=gait3d" in message


# A forked loader worker that reconfigured OpenCV's threads hung (in `cv2.setNumThreads`) in about
# half of the forks once the parent's pool had run: a training run stuck for ever. 12 rounds miss
# that with probability ~1e-5; the subprocess's time limit turns a hang into a failure.
FORK_ROUNDS = 12
FORK_SCRIPT = textwrap.dedent(
    """
    import sys
    import cv2
    import numpy as np
    from gaitwave.data.datamodule import GaitDataModule

    image = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
    warp = np.float32([[1, 0.1, 3], [0.1, 1, 2]])
    for _ in range(int(sys.argv[2])):
        cv2.setNumThreads(2)  # the parent's pool runs (as a user's own code may make it)
        cv2.warpAffine(image, warp, (1500, 1500))
        loader = GaitDataModule(
            root=sys.argv[1], sampler=[3, 4], train_frames=8, num_workers=1, seed=0
        ).train_dataloader()
        frames, labels = next(iter(loader))
        assert frames.shape[0] == 12
        del loader
    print("ok")
    """
)


def test_workers_fork_safely_after_the_parent_used_opencv_threads(dataset):
    root, _ = dataset
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(root), str(FORK_ROUNDS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
