"""SynthGait generation speed: frames per second at workers=1 and workers=2, and where time goes.

    .venv/bin/python bench/bench_synth.py                 # fixed configuration, 3 repeats
    .venv/bin/python bench/bench_synth.py --stages        # also time each stage on one core

The configuration is fixed (preset=dev sequences, seed 0, format=pkl, `--ids` ids): each repeat
generates it from scratch into a temporary folder, alternating workers=1 and workers=2 so both
see the same machine load. Reported: median frames/s, the ratio workers=2 / workers=1, and the
projected wall time of the full `preset=dev` set (124 ids x 10 x 11, about 409k frames).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from gaitwave.data.pretreatment import pretreat_frames
from gaitwave.data.synthgait import generate
from gaitwave.data.synthgait.camera import orbit_camera
from gaitwave.data.synthgait.conditions import arm_swing_scale, draw_condition, dress
from gaitwave.data.synthgait.figure import build_figure
from gaitwave.data.synthgait.kinematics import walk
from gaitwave.data.synthgait.noise import corrupt, draw_lighting, draw_noise, shadow_solids
from gaitwave.data.synthgait.nuisance import draw_take, walk_style
from gaitwave.data.synthgait.raster import draw, project_figure
from gaitwave.data.synthgait.sequence import (
    STREAM_CONDITION,
    STREAM_LIGHTING,
    STREAM_NOISE,
    STREAM_TAKE,
    STREAM_WALK,
    TYPES,
    VIEWS,
    rng_for,
    subject,
    type_index,
)

DEV_FRAMES = 124 * 10 * 11 * 30


def frames_per_second(ids: int, frames: int, workers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = Path(tmp) / "set"
        generate(root, "dev", seed=0, workers=workers, num_ids=ids, frames=frames, progress=False)
        seconds = time.perf_counter() - start
        rendered = json.loads((root / "synthgait.json").read_text())["frames_rendered"]
    return rendered / seconds, rendered


def stage_times(ids: int, frames: int) -> dict[str, float]:
    """Seconds per frame of each stage, on one core, over every sequence of `ids` ids."""
    cv2.setNumThreads(1)
    stages = ["kinematics + figure", "projection", "drawing", "noise", "pretreatment"]
    totals = dict.fromkeys(stages, 0.0)
    count = 0
    for number in range(1, ids + 1):
        for seq_type in TYPES:
            for view in VIEWS:
                t0 = time.perf_counter()
                key = (number, type_index(seq_type))
                body, style = subject(0, number)
                style = walk_style(style, rng_for(0, STREAM_WALK, *key))
                condition = draw_condition(seq_type, rng_for(0, STREAM_CONDITION, *key))
                take = draw_take(view, frames, rng_for(0, STREAM_TAKE, *key, view))
                noise_rng = rng_for(0, STREAM_NOISE, *key, view)
                noise = draw_noise(draw_lighting(rng_for(0, STREAM_LIGHTING, view)), noise_rng)
                swing = arm_swing_scale(condition)
                skel = walk(body, style, take.start_phase, take.n_frames, swing)
                aim = np.array([0.0, skel.pelvis[take.n_frames // 2, 1], take.aim_height])
                camera = orbit_camera(take.yaw, take.distance, take.height, aim)
                shadow = shadow_solids(noise, skel)
                figure = build_figure(skel, dress(body, condition), condition, shadow)
                t1 = time.perf_counter()
                geometry = project_figure(figure, camera)
                t2 = time.perf_counter()
                out = np.zeros((take.n_frames, 240, 320), np.uint8)
                draw(geometry, out)
                t3 = time.perf_counter()
                corrupt(out, geometry["bbox"], noise, noise_rng)
                t4 = time.perf_counter()
                pretreat_frames(out)
                t5 = time.perf_counter()
                spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
                for name, seconds in zip(stages, spans, strict=True):
                    totals[name] += seconds
                count += take.n_frames
    return {name: seconds / count for name, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=8, help="ids per run (x 10 types x 11 views)")
    parser.add_argument("--frames", type=int, default=30, help="mean frames per sequence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="time each stage on one core")
    args = parser.parse_args()

    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeats):
        for workers in (1, 2):
            rate, rendered = frames_per_second(args.ids, args.frames, workers)
            rates[workers].append(rate)
            print(f"workers={workers}: {rendered} frames, {rate:,.0f} frames/s")
    median = {w: statistics.median(r) for w, r in rates.items()}
    print("\n| workers | median frames/s | runs | dev set (409k frames) |")
    print("|---|---|---|---|")
    for workers, rate in median.items():
        runs = ", ".join(f"{r:,.0f}" for r in rates[workers])
        print(f"| {workers} | {rate:,.0f} | {runs} | {DEV_FRAMES / rate / 60:.1f} min |")
    print(f"\nratio workers=2 / workers=1: {median[2] / median[1]:.2f}")
    if args.stages:
        per_frame = stage_times(args.ids, args.frames)
        total = sum(per_frame.values())
        print("\n| stage (one core) | us / frame | share |")
        print("|---|---|---|")
        for name, seconds in per_frame.items():
            print(f"| {name} | {seconds * 1e6:.0f} | {seconds / total:.0%} |")
        print(f"| total (no file writing) | {total * 1e6:.0f} | 100% |")


if __name__ == "__main__":
    main()
