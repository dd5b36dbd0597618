"""GaitDataModule: P x K training clips and padded whole-sequence test batches.

Train loader: `(frames [N, T, H, W] float32 in [0, 1], labels [N] int64)`, N = P * K / ranks,
forever (train by `max_steps`). Test loader (validation and test): every test-split sequence
once across ranks, all frames in order (capped), as `{"frames": [N, Tmax, H, W] float32 zero
padded, "lengths": [N] int64, "index": [N] int64}` with `index` into `test_records`.

Reproducibility: every training clip draws its frames and augmentations from its own Generator,
keyed by (seed, global batch number, position in the global batch), so the data stream does not
depend on the number of workers or processes, and resuming continues it (the first batch is
`trainer.global_step * accumulate_grad_batches`). Use `Trainer(use_distributed_sampler=False)`:
the loaders split the data over ranks themselves.

Errors: a sequence that cannot be loaded or transformed, in the main process or in a DataLoader
worker, raises an error whose message names its file (`SequenceFormatError` /
`UnsafePickleError` from the readers, `SequenceLoadError` for anything else).
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gaitwave.callbacks.preemption import STOP_SIGNALS
from gaitwave.data.frames import FRAME_MODES, FrameSampler
from gaitwave.data.index import (
    PARTITION_FILE,
    SequenceIndex,
    SequenceRecord,
    build_index,
    load_partition,
    match_probe_set,
    preview,
)
from gaitwave.data.loader import WorkerLoader
from gaitwave.data.readers import SequenceFormatError, UnsafePickleError, load_sequence
from gaitwave.data.sampler import PKSampler
from gaitwave.data.transforms import Compose, Resize, Transform

log = logging.getLogger(__name__)

# Stream tags of the per-batch and per-clip Generators (PKSampler uses [seed, batch]).
_CLIP_LENGTH_STREAM = 1
_CLIP_STREAM = 2
# uint8 -> [0, 1]: numpy's float32 divide is ~4x faster than torch's uint8 -> float on CPU
_LEVELS = np.float32(255.0)

ClipKey = tuple[int, tuple[int, ...], int | None]  # (record index, rng entropy, clip length)


class SequenceLoadError(RuntimeError):
    """A sequence that failed to load or transform for a reason the readers do not check."""


@contextmanager
def naming_the_file(record: SequenceRecord) -> Iterator[None]:
    """Re-raise any error while loading or transforming `record` with its file in the message
    (errors of the readers name it already), so a DataLoader worker's error says which file."""
    try:
        yield
    except (SequenceFormatError, UnsafePickleError, SequenceLoadError):
        raise
    except Exception as error:
        raise SequenceLoadError(
            f"{record.path} (id {record.id}, type {record.type}, view {record.view}): "
            f"{type(error).__name__}: {error}; check or regenerate this sequence (or delete "
            "its folder)"
        ) from error


class SequenceStore:
    """The sequences of a record list as uint8 `[T, H, W]` at the training resolution.

    With `cache`, every sequence is loaded (and resized) once, up front, in the calling process:
    DataLoader workers forked afterwards share those pages instead of each holding a copy.
    """

    def __init__(
        self, records: Sequence[SequenceRecord], resize: Resize | None, cache: bool
    ) -> None:
        self.records = list(records)
        self.resize = resize
        self.cached: list[np.ndarray] | None = None
        if cache:
            log.info("caching %d sequences in memory", len(self.records))
            self.cached = [self._load(i) for i in range(len(self.records))]

    def _load(self, position: int) -> np.ndarray:
        with naming_the_file(self.records[position]):
            sequence = load_sequence(self.records[position].path)
            return sequence if self.resize is None else self.resize(sequence)

    def frames(
        self,
        position: int,
        select: FrameSampler,
        rng: np.random.Generator | None,
        count: int | None = None,
    ) -> np.ndarray:
        """uint8 `[T', H, W]`: the frames `select` picks from sequence `position`."""
        if self.cached is not None:
            sequence = self.cached[position]
            return sequence[select.indices(len(sequence), rng, count)]
        sequence = load_sequence(self.records[position].path)
        sequence = sequence[select.indices(len(sequence), rng, count)]
        return sequence if self.resize is None else self.resize(sequence)

    def size_hint(self, position: int) -> int:
        """A number that grows with the sequence length: the frame count when cached, else
        the file size (or the number of PNG frames of a folder): no file is loaded."""
        if self.cached is not None:
            return len(self.cached[position])
        path = self.records[position].path
        if path.is_dir():
            return sum(1 for p in path.iterdir() if p.suffix.lower() == ".png")
        return path.stat().st_size


class TrainClips(Dataset):
    """`dataset[(record, entropy, clip_length)]` -> (uint8 `[T, H, W]` array, label)."""

    def __init__(
        self,
        store: SequenceStore,
        labels: Sequence[int],
        frame_sampler: FrameSampler,
        transform: Transform,
    ) -> None:
        self.store = store
        self.labels = list(labels)
        self.frame_sampler = frame_sampler
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: ClipKey) -> tuple[np.ndarray, int]:
        position, entropy, count = key
        rng = np.random.default_rng(entropy)
        with naming_the_file(self.store.records[position]):
            clip = self.store.frames(position, self.frame_sampler, rng, count)
            clip = np.ascontiguousarray(self.transform(clip, rng))
        return clip, self.labels[position]


class EvalSequences(Dataset):
    """`dataset[i]` -> (uint8 `[T, H, W]`, all frames in order up to the cap, i)."""

    def __init__(self, store: SequenceStore, cap: int) -> None:
        self.store = store
        self.all_frames = FrameSampler(mode="all_ordered", cap=cap)

    def __len__(self) -> int:
        return len(self.store.records)

    def __getitem__(self, position: int) -> tuple[np.ndarray, int]:
        with naming_the_file(self.store.records[position]):
            return self.store.frames(position, self.all_frames, rng=None), position


class ClipBatches(Sampler[list[ClipKey]]):
    """Turns a PKSampler's index batches into clip keys with their own randomness.

    Each key carries the entropy `[seed, batch, _CLIP_STREAM, position in the global batch]`
    and the batch's clip length (drawn once per global batch for the unfixed modes).
    """

    def __init__(self, pk_sampler: PKSampler, frame_sampler: FrameSampler, seed: int) -> None:
        self.pk_sampler = pk_sampler
        self.frame_sampler = frame_sampler
        self.seed = seed

    def __iter__(self) -> Iterator[list[ClipKey]]:
        offset = self.pk_sampler.rank * self.pk_sampler.batch_size
        for number, batch in self.pk_sampler.numbered_batches():
            length_rng = np.random.default_rng([self.seed, number, _CLIP_LENGTH_STREAM])
            count = self.frame_sampler.clip_length(length_rng)
            yield [
                (position, (self.seed, number, _CLIP_STREAM, offset + j), count)
                for j, position in enumerate(batch)
            ]


class FixedBatches(Sampler[list[int]]):
    """A fixed list of index batches (the test batches of one rank)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def sorted_batches(
    size_hints: Sequence[int], batch_size: int, rank: int = 0, world_size: int = 1
) -> list[list[int]]:
    """Batches of `batch_size` indices in order of size (less padding); rank `r` takes batches
    r, r + world_size, ...: every index in exactly one batch of one rank."""
    order = np.argsort(np.asarray(size_hints), kind="stable").tolist()
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return batches[rank::world_size]


def collate_clips(items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """-> frames `[N, T, H, W]` float32 in [0, 1], labels `[N]` int64."""
    clips = np.stack([clip for clip, _ in items])
    frames = torch.from_numpy(np.divide(clips, _LEVELS, dtype=np.float32))
    labels = torch.tensor([label for _, label in items], dtype=torch.int64)
    return frames, labels


def collate_padded(items: list[tuple[np.ndarray, int]]) -> dict[str, torch.Tensor]:
    """-> frames `[N, Tmax, H, W]` float32 in [0, 1] zero padded, lengths `[N]`, index `[N]`."""
    lengths = [len(sequence) for sequence, _ in items]
    height, width = items[0][0].shape[1:]
    frames = np.zeros((len(items), max(lengths), height, width), np.float32)
    for row, (sequence, _) in enumerate(items):
        np.divide(sequence, _LEVELS, out=frames[row, : len(sequence)], dtype=np.float32)
    return {
        "frames": torch.from_numpy(frames),
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "index": torch.tensor([position for _, position in items], dtype=torch.int64),
    }


def _init_worker(worker_id: int) -> None:
    """Seed numpy's global RNG in a worker from its torch seed (itself from `seed`). The stop
    signals (SIGTERM, SIGINT, SIGUSR1) are ignored: SLURM and a terminal's Ctrl-C send them to
    every process of the job, and the training process answers them
    (`gaitwave.callbacks.preemption`); a worker ended by one would end the run before its
    checkpoint. Workers still exit with the training process. OpenCV is not touched here (see
    `GaitDataModule._loader`)."""
    np.random.seed(torch.initial_seed() % 2**32)
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _worker_context(num_workers: int) -> str | None:
    """Loader workers fork on Linux, explicitly: inside a process that joblib started (the jobs of
    `hydra/launcher=local`) the default start method is joblib's, whose processes the DataLoader
    cannot start. Elsewhere the platform's default."""
    return "fork" if num_workers > 0 and sys.platform.startswith("linux") else None


def creation_hint(root: Path, layout: str | None) -> str:
    """The command that creates a dataset `root` (and its partition file): `gaitwave-prepare`
    for a dataset `layout` (casiab, oumvlp, gait3d, grew), `gaitwave-synth` for None."""
    if layout is None:
        return (
            f"generate SynthGait with `gaitwave-synth root={root}` (or `make synth`), "
            "which writes it"
        )
    return (
        f"create it from the raw silhouettes with `gaitwave-prepare raw=<raw {layout} "
        f"tree> out={root} layout={layout}` (add partition=<the dataset's "
        "partition JSON> where the dataset publishes one)"
    )


class GaitDataModule(L.LightningDataModule):
    """Training and test data of a gait dataset in the OpenGait layout.

    Args:
        root: dataset root, `root/<id>/<type>/<view>/*.pkl` (or `.npz`, or PNG frames).
        partition: JSON with TRAIN_SET and TEST_SET (default `root/partition.json`), and
            PROBE_SET for Gait3D (see `test_probe_mask`).
        layout: the `gaitwave-prepare layout=` that creates `root` from a dataset's raw
            silhouettes (casiab, oumvlp, gait3d, grew), named by the error when `root` is
            missing; None for SynthGait or a dataset of your own.
        views: the expected view folder names; another one is an error. None: no check.
        exclude_train_ids: TRAIN_SET ids left out of training (CASIA-B's 73-id variant: [005]).
        test_only_ids: ids in the test split even when TEST_SET does not list them, never in
            training (GREW: [probe], the official test probes with hidden labels).
        sampler: [P, K], ids per batch and sequences per id (global, over all ranks).
        train_frames: clip length (fixed modes) for training.
        frame_mode: one of `FRAME_MODES` for training clips.
        skip: extra window frames of the ordered modes.
        train_frames_range: [min, max] clip length for the unfixed modes.
        test_frames_cap: most frames of a test sequence (the first ones).
        height, width: resize target for both loaders; None keeps the stored size.
        train_transforms: transform objects applied to training clips (uint8 `[T, H, W]`).
        test_batch_size: sequences per test batch.
        num_workers: DataLoader workers per loader.
        seed: fixes the training stream (ids, sequences, frames, augmentations).
        cache: load every sequence into memory once (before workers start).
        modality: which sorted file of a view folder to use.
    """

    def __init__(
        self,
        root: str | Path,
        partition: str | Path | None = None,
        layout: str | None = None,
        views: Sequence[str] | None = None,
        exclude_train_ids: Sequence[str] = (),
        test_only_ids: Sequence[str] = (),
        sampler: Sequence[int] = (8, 16),
        train_frames: int = 30,
        frame_mode: str = "fixed_unordered",
        skip: int = 0,
        train_frames_range: Sequence[int] | None = None,
        test_frames_cap: int = 720,
        height: int | None = None,
        width: int | None = None,
        train_transforms: Sequence[Transform] = (),
        test_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        cache: bool = False,
        modality: int = 0,
    ) -> None:
        super().__init__()
        if len(sampler) != 2 or min(sampler) < 1:
            raise ValueError(f"sampler={list(sampler)}: give [P, K], two integers >= 1")
        if (height is None) != (width is None):
            raise ValueError(
                f"height={height}, width={width}: set both (resize target) or neither "
                "(keep the stored size)"
            )
        if frame_mode not in FRAME_MODES:
            raise ValueError(f"frame_mode='{frame_mode}' is not one of {FRAME_MODES}")
        if test_batch_size < 1:
            raise ValueError(f"test_batch_size={test_batch_size} must be >= 1")
        self.root = Path(root)
        self.partition = Path(partition) if partition is not None else self.root / PARTITION_FILE
        self.layout = layout
        self.views = None if views is None else [str(view) for view in views]
        self.exclude_train_ids = [str(id_) for id_ in exclude_train_ids]
        self.test_only_ids = [str(id_) for id_ in test_only_ids]
        self.p, self.k = int(sampler[0]), int(sampler[1])
        self.frame_sampler = FrameSampler(
            mode=frame_mode,
            frames=train_frames,
            skip=skip,
            frames_range=None if train_frames_range is None else tuple(train_frames_range),
        )
        self.test_frames_cap = test_frames_cap
        self.resize = Resize(height, width) if height is not None else None
        self.train_transform = Compose(list(train_transforms))
        self.test_batch_size = test_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache = cache
        self.modality = modality
        self.train_index: SequenceIndex | None = None
        self.test_index: SequenceIndex | None = None
        self._test_probe_mask: list[bool] | None = None
        self._stores: dict[str, SequenceStore] = {}

    # ---- indexes ----

    def setup(self, stage: str | None = None) -> None:
        """Index the train and test splits (directory listings only; cheap, idempotent)."""
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"dataset root {self.root} (data.datamodule.root) not found: "
                f"{creation_hint(self.root, self.layout)}, or set data.datamodule.root to your copy"
            )
        if not self.partition.is_file():
            raise FileNotFoundError(
                f"partition file {self.partition} (data.datamodule.partition) not found: "
                f"{creation_hint(self.root, self.layout)}, or set data.datamodule.partition "
                "to your JSON"
            )
        options = dict(
            modality=self.modality,
            views=self.views,
            test_only_ids=self.test_only_ids,
            exclude_train_ids=self.exclude_train_ids,
        )
        if self.train_index is None:
            self.train_index = build_index(self.root, self.partition, "train", **options)
        if self.test_index is None:
            self.test_index = build_index(self.root, self.partition, "test", **options)

    def _indexes(self) -> tuple[SequenceIndex, SequenceIndex]:
        if self.train_index is None or self.test_index is None:
            self.setup()
        return self.train_index, self.test_index

    @property
    def num_classes(self) -> int:
        """Number of training ids (classifier outputs)."""
        return len(self._indexes()[0].ids)

    @property
    def train_records(self) -> list[SequenceRecord]:
        return self._indexes()[0].records

    @property
    def test_records(self) -> list[SequenceRecord]:
        """The test-split sequences; test batches' `index` points into this list."""
        return self._indexes()[1].records

    @property
    def test_probe_mask(self) -> list[bool] | None:
        """Whether each test record (in `test_records` order) is a probe, from the partition's
        PROBE_SET `"<id>-<type>-<view>"` entries; None when the partition has no PROBE_SET.

        Entries that match no test sequence are counted and reported (a warning).
        """
        if self._test_probe_mask is None:
            probe_set = load_partition(self.partition).get("PROBE_SET")
            if probe_set is None:
                return None
            mask, unmatched = match_probe_set(self.test_records, probe_set)
            log.info(
                "%s: %d of %d PROBE_SET entries are test probes",
                self.partition,
                sum(mask),
                len(set(probe_set)),
            )
            if unmatched:
                log.warning(
                    "%s: %d PROBE_SET entries match no test sequence (not evaluated): %s",
                    self.partition,
                    len(unmatched),
                    preview(unmatched),
                )
            self._test_probe_mask = mask
        return self._test_probe_mask

    def _store(self, split: str) -> SequenceStore:
        if split not in self._stores:
            records = self.train_records if split == "train" else self.test_records
            self._stores[split] = SequenceStore(records, self.resize, self.cache)
        return self._stores[split]

    def _distribution(self) -> tuple[int, int, int]:
        """(rank, world size, first global batch) from the trainer, if any."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1, 0
        return (
            trainer.global_rank,
            trainer.world_size,
            trainer.global_step * trainer.accumulate_grad_batches,
        )

    # ---- loaders ----

    def _loader(self, dataset: Dataset, batch_sampler: Sampler, collate) -> DataLoader:
        """One OpenCV thread, set here in the training process before any worker forks: its
        thread pool only slows the warps of small frames down (and the workers already run in
        parallel), and it does not survive a fork: a forked worker that reconfigured it hung in
        `cv2.setNumThreads` when the parent's pool had run. Forked workers inherit the setting."""
        cv2.setNumThreads(1)
        return WorkerLoader(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=_init_worker,
            generator=torch.Generator().manual_seed(self.seed),
            multiprocessing_context=_worker_context(self.num_workers),
        )

    def train_dataloader(self) -> DataLoader:
        """Infinite P x K clips: `(frames [N, T, H, W] float32, labels [N] int64)`."""
        rank, world_size, start_batch = self._distribution()
        train_index = self._indexes()[0]
        pk_sampler = PKSampler(
            train_index.labels(),
            self.p,
            self.k,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            start_batch=start_batch,
        )
        dataset = TrainClips(
            self._store("train"), train_index.labels(), self.frame_sampler, self.train_transform
        )
        batches = ClipBatches(pk_sampler, self.frame_sampler, self.seed)
        return self._loader(dataset, batches, collate_clips)

    def test_dataloader(self) -> DataLoader:
        """This rank's share of the test split as padded batches (see the module docstring)."""
        rank, world_size, _ = self._distribution()
        store = self._store("test")
        hints = [store.size_hint(i) for i in range(len(store.records))]
        batches = sorted_batches(hints, self.test_batch_size, rank, world_size)
        dataset = EvalSequences(store, self.test_frames_cap)
        return self._loader(dataset, FixedBatches(batches), collate_padded)

    def val_dataloader(self) -> DataLoader:
        """The test loader: validation runs the test protocol."""
        return self.test_dataloader()
