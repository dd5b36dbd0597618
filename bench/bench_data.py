"""Data at scale: the index of an OU-MVLP-sized test set, and training-loader throughput.

1. Index: a tree shaped like OU-MVLP's test set (5,154 ids x 2 sequences x 14 views = 144,312
   sequence files, empty: the index never opens them) is built in a temporary folder; then
   `build_index` (wall seconds, and tracemalloc peak in a separate run) and the test loader's
   creation (`test_dataloader()`: one `stat` per file for the length-sorted batches) are timed,
   medians of `--repeats`.
2. Loader: training clips per second of `GaitDataModule.train_dataloader()` with num_workers 0
   and 2 side by side (rounds alternate the order), for the CASIA-B recipe ([8, 16], 30 random
   frames, flip + erasing) and the OU-MVLP / Gait3D recipe ([32, 8], 30 ordered frames of a
   window of 34, perspective + flip + rotation), 64 x 44, on random uint8 pickles of 25..120
   frames read from disk (no cache). Rate = clips per batch / median interval between batches
   (the median ignores the batches the workers had queued before the clock started).
3. Model: the training step of the default model (conf/backbone/gaitbase.yaml widths, built by
   bench_models.build, fp32 channels_last, 1 thread) on clips of the loader's shape
   (30 x 64 x 44), and bench_models' own 32 x 15 x 32 x 22 step: clips per second consumed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_data.py
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench_models import build, training_step
from gaitwave.data.datamodule import GaitDataModule
from gaitwave.data.index import build_index
from gaitwave.data.transforms import (
    RandomErasing,
    RandomHorizontalFlip,
    RandomPerspective,
    RandomRotation,
)

OUMVLP_VIEWS = [f"{v:03d}" for v in (*range(0, 91, 15), *range(180, 271, 15))]
DEFAULT_CHANNELS = [8, 16, 32, 64]  # conf/backbone/gaitbase.yaml

RECIPES = {
    "CASIA-B [8, 16], unordered, flip + erasing": dict(
        sampler=[8, 16],
        frame_mode="fixed_unordered",
        train_transforms=[RandomHorizontalFlip(0.5), RandomErasing(0.5, area=(0.05, 0.2))],
    ),
    "OU-MVLP [32, 8], ordered skip 4, perspective + flip + rotation": dict(
        sampler=[32, 8],
        frame_mode="fixed_ordered",
        skip=4,
        train_transforms=[RandomPerspective(0.5, 0.2), RandomHorizontalFlip(0.5), RandomRotation()],
    ),
}


def write_index_tree(root: Path, ids: int) -> Path:
    """OU-MVLP test-set shape: `ids` x 2 sequences x 14 views of empty `.pkl` files."""
    names = [f"{i:05d}" for i in range(1, ids + 1)]
    for id_ in names:
        for seq in ("00", "01"):
            for view in OUMVLP_VIEWS:
                folder = root / id_ / seq / view
                folder.mkdir(parents=True)
                (folder / f"{view}.pkl").touch()
    partition = root / "partition.json"
    partition.write_text(json.dumps({"TRAIN_SET": [], "TEST_SET": names}))
    return partition


def bench_index(ids: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        start = time.perf_counter()
        partition = write_index_tree(root, ids)
        print(f"tree of {ids * 28:,} sequence files written in {time.perf_counter() - start:.1f} s")
        seconds, peaks, loader_seconds = [], [], []
        for _ in range(repeats):
            start = time.perf_counter()
            index = build_index(root, partition, "test", views=OUMVLP_VIEWS)
            seconds.append(time.perf_counter() - start)
            del index
            tracemalloc.start()
            index = build_index(root, partition, "test", views=OUMVLP_VIEWS)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            dm = GaitDataModule(root, views=OUMVLP_VIEWS, sampler=[1, 1])
            dm.train_index, dm.test_index = index, index  # no training ids here
            start = time.perf_counter()
            dm.test_dataloader()
            loader_seconds.append(time.perf_counter() - start)
        print(
            f"build_index: {len(index):,} records, median {statistics.median(seconds):.2f} s "
            f"({[round(s, 2) for s in seconds]}), tracemalloc peak median "
            f"{statistics.median(peaks) / 2**20:.1f} MiB; test_dataloader() median "
            f"{statistics.median(loader_seconds):.2f} s"
        )


def write_sequences(root: Path, ids: int, seed: int = 0) -> None:
    """`ids` x 2 types x 4 views of random uint8 [T, 64, 64] pickles, T in 25..120."""
    rng = np.random.default_rng(seed)
    names = [f"{i:05d}" for i in range(1, ids + 1)]
    for id_ in names:
        for seq in ("00", "01"):
            for view in OUMVLP_VIEWS[:4]:
                frames = (rng.random((int(rng.integers(25, 121)), 64, 64)) > 0.6) * 255
                folder = root / id_ / seq / view
                folder.mkdir(parents=True)
                (folder / f"{view}.pkl").write_bytes(pickle.dumps(frames.astype(np.uint8)))
    (root / "partition.json").write_text(json.dumps({"TRAIN_SET": names, "TEST_SET": names[:1]}))


def loader_rate(root: Path, recipe: dict, num_workers: int, batches: int, warmup: int) -> float:
    """Training clips per second: clips per batch / median interval between batches."""
    dm = GaitDataModule(
        root, train_frames=30, height=64, width=44, num_workers=num_workers, **recipe
    )
    iterator = iter(dm.train_dataloader())
    clips = 0
    for _ in range(warmup):
        clips = len(next(iterator)[1])
    intervals = []
    last = time.perf_counter()
    for _ in range(batches):
        next(iterator)
        now = time.perf_counter()
        intervals.append(now - last)
        last = now
    if hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    return clips / statistics.median(intervals)


def bench_loader(ids: int, rounds: int, batches: int, warmup: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_sequences(root, ids)
        for name, recipe in RECIPES.items():
            rates: dict[int, list[float]] = {0: [], 2: []}
            for round_ in range(rounds):
                for workers in (0, 2) if round_ % 2 == 0 else (2, 0):
                    rates[workers].append(loader_rate(root, recipe, workers, batches, warmup))
            zero, two = (statistics.median(rates[w]) for w in (0, 2))
            print(
                f"| {name} | {zero:.0f} | {two:.0f} | {two / zero:.2f} |",
                f"rounds: {[round(r) for r in rates[0]]} / {[round(r) for r in rates[2]]}",
            )


def clip_step(model: torch.nn.Module, clips: int, frames: int, height: int, width: int):
    """bench_models' training step (cross-entropy + mean squared embedding) at another shape."""
    batch = (torch.rand(clips, frames, height, width) > 0.6).float()
    labels = torch.arange(clips) % 8
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(batch)
        parts = out["logits"].shape[2]
        loss = F.cross_entropy(16 * out["logits"], labels[:, None].expand(-1, parts))
        (loss + out["embeddings"].square().mean()).backward()

    return step


def bench_model(rounds: int) -> None:
    model = build(DEFAULT_CHANNELS, channels_last=True, device=torch.device("cpu"))
    for name, clips, step in [
        ("32 x 30 x 64 x 44", 32, clip_step(model, 32, 30, 64, 44)),
        ("32 x 15 x 32 x 22 (bench_models)", 32, training_step(model, "fp32", torch.device("cpu"))),
    ]:
        step()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"default model step {name}: {1e3 * median:.0f} ms, {clips / median:.1f} clips/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-ids", type=int, default=5154, help="OU-MVLP test: 5,154")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loader-ids", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["index", "loader", "model"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch={torch.__version__} threads=1")
    if "index" not in args.skip:
        bench_index(args.index_ids, args.repeats)
    if "loader" not in args.skip:
        print("| recipe (64 x 44, 30 frames) | clips/s, 0 workers | 2 workers | ratio |")
        print("|---|---|---|---|")
        bench_loader(args.loader_ids, args.rounds, args.batches, args.warmup)
    if "model" not in args.skip:
        bench_model(args.rounds)


if __name__ == "__main__":
    main()
