"""GaitBase + GaitHead: training-step time and inference throughput, by precision and layout.

Training step: forward + backward of a P x K = 8 x 4 batch (32 clips of 15 frames, 32 x 22)
through GaitBase(channels) + GaitHead (16 parts, 74 classes), loss = cross-entropy on the
scaled cosine logits + the mean squared embedding (a stand-in for a metric loss).
Inference: eval mode, no_grad, a batch of 30-frame sequences at 64 x 44.

Each variant (fp32 / bf16 autocast x contiguous / channels-last) runs once per round, rounds
interleave the variants so machine noise hits them alike, and the table gives medians and the
ratio to fp32 contiguous. Prints a markdown table. CPU by default with one torch thread (the
machine is shared); `--device cuda` times on a GPU (synchronising around each call).

    python bench/bench_models.py                      # small model, CPU, 1 thread
    python bench/bench_models.py --channels 64 128 256 512 --device cuda --rounds 50
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gaitwave.models import GaitBase, GaitHead, GaitModel

VARIANTS = [
    ("fp32", False),
    ("fp32", True),
    ("bf16", False),
    ("bf16", True),
]


def build(channels: list[int], channels_last: bool, device: torch.device) -> GaitModel:
    torch.manual_seed(0)
    backbone = GaitBase(channels, channels_last=channels_last)
    return GaitModel(backbone, GaitHead(channels[-1])).to(device)


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def training_step(model: GaitModel, precision: str, device: torch.device) -> Callable[[], None]:
    frames = (torch.rand(32, 15, 32, 22, device=device) > 0.6).float()
    labels = torch.arange(8, device=device).repeat_interleave(4)
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with precision_context(precision, device):
            out = model(frames)
            parts = out["logits"].shape[2]
            loss = F.cross_entropy(16 * out["logits"], labels[:, None].expand(-1, parts))
            loss = loss + out["embeddings"].float().square().mean()
        loss.backward()

    return step


def inference(
    model: GaitModel, precision: str, batch: int, device: torch.device
) -> Callable[[], None]:
    frames = (torch.rand(batch, 30, 64, 44, device=device) > 0.6).float()
    model.eval()

    def run() -> None:
        with torch.no_grad(), precision_context(precision, device):
            model(frames)

    return run


def measure(
    workloads: dict[str, Callable[[], None]], rounds: int, warmup: int, device: torch.device
) -> dict:
    """Median seconds per call of each workload, interleaved round by round."""

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for work in workloads.values():
        for _ in range(warmup):
            work()
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(rounds):
        for name, work in workloads.items():
            synchronize()
            start = time.perf_counter()
            work()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs=4, default=[16, 32, 64, 128])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (machine shared)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--inference-batch", type=int, default=8, help="30-frame sequences")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    names = [f"{p} {'channels_last' if cl else 'contiguous'}" for p, cl in VARIANTS]
    variants = list(zip(names, VARIANTS, strict=True))
    models = {name: build(args.channels, cl, device) for name, (_, cl) in variants}
    train = measure(
        {name: training_step(models[name], p, device) for name, (p, _) in variants},
        args.rounds,
        args.warmup,
        device,
    )
    infer = measure(
        {
            name: inference(models[name], p, args.inference_batch, device)
            for name, (p, _) in variants
        },
        args.rounds,
        args.warmup,
        device,
    )

    frames = args.inference_batch * 30
    print(
        f"channels={tuple(args.channels)} device={device} threads={args.threads} "
        f"rounds={args.rounds} torch={torch.__version__}"
    )
    print(
        "| variant | train step 32 x 15 @ 32x22 (ms) | ratio | "
        f"inference {args.inference_batch} x 30 @ 64x44 (ms) | sequences/s | frames/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    base_train, base_infer = train[names[0]], infer[names[0]]
    for name in names:
        print(
            f"| {name} | {1e3 * train[name]:.1f} | {train[name] / base_train:.2f} | "
            f"{1e3 * infer[name]:.1f} | {args.inference_batch / infer[name]:.1f} | "
            f"{frames / infer[name]:.0f} | {infer[name] / base_infer:.2f} |"
        )


if __name__ == "__main__":
    main()
