"""Every backbone of conf/: size, per-frame MACs, inference throughput and training step time.

Each model is composed from the project's configs (`experiment=...` or `backbone=...` overrides
of conf/train.yaml) and built with `gaitwave.build.build_module`, so the table measures exactly
what `gaitwave-train` trains.

- params: backbone / whole model (74 classes).
- MACs per frame: `torch.utils.flop_counter` over one 30-frame sequence at 64 x 44 (eval mode),
  multiply-accumulates of the whole model divided by 30 (FLOPs / 2).
- inference: eval, `no_grad`, a batch of sequences of 30 frames at 64 x 44; sequences/s.
- training step: forward + backward of the run's loss terms on a P x K = 8 x 4 batch of clips in
  the CPU training setting (10 frames, 32 x 22), or `--train-size 64 44 --train-frames 30`.
- switches (side by side in one process, alternating, medians): `channels_last` on vs off
  (2D backbones) and `torch.compile` vs eager for inference (compile time reported apart).

    OMP_NUM_THREADS=1 python bench/bench_backbones.py                 # every model, 1 thread
    python bench/bench_backbones.py --models gaitbase --switches      # channels_last, compile
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from torch.utils.flop_counter import FlopCounterMode

from gaitwave.build import build_module
from gaitwave.config import config_dir
from gaitwave.module import GaitModule
from timing import compare, seconds

# name -> (overrides of conf/train.yaml, reference per-frame GMACs at 64 x 44 from
# docs/PROTOCOLS.md)
MODELS: dict[str, tuple[list[str], float | None]] = {
    "gaitset": (["experiment=gaitset"], 0.11),
    "gaitpart": (["experiment=gaitpart"], None),
    "gaitgl": (["experiment=gaitgl"], 0.42),
    "gaitgl_oumvlp": (["experiment=gaitgl", "backbone=gaitgl_oumvlp", "head.embed_dim=256"], 1.95),
    "gaitbase": (
        ["backbone=gaitbase", "backbone.channels=[64,128,256,512]", "head.embed_dim=256"],
        None,
    ),
    "gaitbase_cpu": (["backbone=gaitbase"], None),  # the CPU default (widths 8..64)
    "deepgaitv2_p3d": (["experiment=deepgaitv2"], 1.39),
    "deepgaitv2_p3d_1441": (["experiment=deepgaitv2", "backbone.layers=[1,4,4,1]"], 2.84),
    "deepgaitv2_2d": (["experiment=deepgaitv2", "backbone.mode=2d"], None),
    "deepgaitv2_3d": (["experiment=deepgaitv2", "backbone.mode=3d"], None),
}
NUM_CLASSES = 74


def build(overrides: list[str]) -> GaitModule:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "paths.output_dir=outputs/bench"])
    torch.manual_seed(0)
    return build_module(cfg, NUM_CLASSES)


def parameters(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def macs_per_frame(module: GaitModule, frames: int = 30) -> float:
    """Multiply-accumulates (G) per frame of one `frames`-long sequence at 64 x 44."""
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.rand(1, frames, 64, 44))
    return counter.get_total_flops() / 2 / frames / 1e9


def inference(module: torch.nn.Module, batch: int) -> Callable[[], None]:
    frames = (torch.rand(batch, 30, 64, 44) > 0.6).float()
    module.eval()

    def run() -> None:
        with torch.no_grad():
            module(frames)

    return run


def training_step(module: GaitModule, size: tuple[int, int], length: int) -> Callable[[], None]:
    frames = (torch.rand(32, length, *size) > 0.6).float()
    labels = torch.arange(8).repeat_interleave(4)
    module.train()

    def step() -> None:
        module.zero_grad(set_to_none=True)
        outputs = module(frames)
        sum(term(outputs, labels) for term in module.terms.values()).backward()

    return step


def median_seconds(work: Callable[[], None], repeats: int, warmup: int) -> float:
    device = torch.device("cpu")
    for _ in range(warmup):
        work()
    times = sorted(seconds(work, device) for _ in range(repeats))
    return times[len(times) // 2]


def table(args: argparse.Namespace) -> None:
    print(
        "| model | params backbone / total (M) | GMACs / frame (reference) | "
        f"inference {args.batch} x 30 @ 64x44 (s) | sequences/s | "
        f"train step 8 x 4 x {args.train_frames} @ {args.train_size[0]}x{args.train_size[1]} (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.models:
        overrides, reference = MODELS[name]
        module = build(overrides)
        macs = macs_per_frame(module)
        infer = median_seconds(inference(module, args.batch), args.repeats, 1)
        train = median_seconds(
            training_step(module, tuple(args.train_size), args.train_frames), args.repeats, 1
        )
        ref = f" ({reference:.2f})" if reference is not None else ""
        print(
            f"| {name} | {parameters(module.model.backbone):.2f} / {parameters(module.model):.2f} "
            f"| {macs:.2f}{ref} | {infer:.2f} | {args.batch / infer:.1f} | {train:.2f} |",
            flush=True,
        )


def switches(args: argparse.Namespace) -> None:
    """channels_last on vs off and torch.compile vs eager, side by side per model."""
    device = torch.device("cpu")
    print("| model | switch | off (s) | on (s) | on / off | note |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        overrides, _ = MODELS[name]
        if any(
            o.startswith("experiment=deepgaitv2") or o == "backbone=gaitbase" for o in overrides
        ):
            plain = build([*overrides, "backbone.channels_last=false"])
            fast = build([*overrides, "backbone.channels_last=true"])
            for label, make in (
                (
                    "channels_last, train step",
                    lambda m: training_step(m, tuple(args.train_size), args.train_frames),
                ),
                ("channels_last, inference", lambda m: inference(m, args.batch)),
            ):
                off, on, ratio = compare(make(plain), make(fast), device, args.repeats, 1)
                print(f"| {name} | {label} | {off:.2f} | {on:.2f} | {ratio:.2f} | |", flush=True)
        for label, make in (
            ("torch.compile, inference", lambda m: inference(m, args.batch)),
            (
                "torch.compile, train step",
                lambda m: training_step(m, tuple(args.train_size), args.train_frames),
            ),
        ):
            torch._dynamo.reset()  # a fresh compile per workload (shapes differ)
            eager = build(overrides)
            compiled = build(overrides)
            compiled.model = torch.compile(compiled.model)
            eager_work, compiled_work = make(eager), make(compiled)
            start = time.perf_counter()
            compiled_work()
            compile_s = time.perf_counter() - start
            off, on, ratio = compare(eager_work, compiled_work, device, args.repeats, 1)
            print(
                f"| {name} | {label} | {off:.2f} | {on:.2f} | {ratio:.2f} | "
                f"first call {compile_s:.0f} s |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (machine shared)")
    parser.add_argument("--batch", type=int, default=4, help="30-frame sequences per inference")
    parser.add_argument("--train-size", type=int, nargs=2, default=[32, 22])
    parser.add_argument("--train-frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--switches", action="store_true", help="channels_last and compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} repeats={args.repeats} torch={torch.__version__}")
    if args.switches:
        switches(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
