"""Benchmark the per-part losses and the fusions (forward + backward, medians, side by side).

1. Batched over parts vs a Python loop over parts, for TripletLoss and CircleLoss.
2. NormFusion vs PostFusion on the same loss: the overhead of Waveloss, plus the cost of the
   two fusions alone on a part-loss vector `[P]`.

Each comparison runs its two candidates in turn within every repetition, in alternating order
(A B, B A, ...), in one process, so machine noise hits both alike. Reported: the median time of
each, and the median of the per-repetition ratios (robust to slow drifts of a shared machine).
Results go in bench/README.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_losses.py
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from gaitwave.fusion import NormFusion, PostFusion
from gaitwave.losses import CircleLoss, TripletLoss
from timing import compare


def backward(step: Callable[[], torch.Tensor], leaf: torch.Tensor) -> Callable[[], None]:
    """One forward + backward of `step`, gradients flowing to `leaf`."""

    def run() -> None:
        leaf.grad = None
        step().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=64)
    parser.add_argument("--ids", type=int, default=8, help="identities per batch (P of P x K)")
    parser.add_argument("--per-id", type=int, default=8, help="samples per identity (K)")
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=40, help="batched vs loop repetitions")
    parser.add_argument(
        "--fusion-repeats", type=int, default=120, help="PostFusion vs NormFusion repetitions"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--exponent", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    n = args.ids * args.per_id
    x = torch.randn(n, args.channels, args.parts, device=device, requires_grad=True)
    labels = torch.arange(args.ids, device=device).repeat_interleave(args.per_id)
    losses = {"triplet": TripletLoss(), "circle": CircleLoss()}
    print(
        f"torch {torch.__version__}, {device}, {args.threads} thread(s), N = {n} ({args.ids} x "
        f"{args.per_id}), C = {args.channels}, P = {args.parts}, {args.repeats} / "
        f"{args.fusion_repeats} repeats, forward + backward, medians"
    )

    print("\n| loss | batched (ms) | per-part loop (ms) | loop / batched (paired median) |")
    print("|---|---|---|---|")
    for name, loss in losses.items():
        batched, loop, ratio = compare(
            backward(lambda loss=loss: loss(x, labels).sum(), x),
            backward(
                lambda loss=loss: torch.cat(
                    [loss(x[:, :, p : p + 1], labels) for p in range(args.parts)]
                ).sum(),
                x,
            ),
            x.device,
            args.repeats,
            args.warmup,
        )
        print(f"| {name} | {batched * 1e3:.2f} | {loop * 1e3:.2f} | {ratio:.1f}x |")

    post, norm = PostFusion(), NormFusion(args.exponent)
    print(f"\n| loss | PostFusion (ms) | NormFusion l={args.exponent:g} (ms) | overhead (paired) |")
    print("|---|---|---|---|")
    for name, loss in losses.items():
        post_time, norm_time, ratio = compare(
            backward(lambda loss=loss: post(loss, x, labels), x),
            backward(lambda loss=loss: norm(loss, x, labels), x),
            x.device,
            args.fusion_repeats,
            args.warmup,
        )
        print(
            f"| {name} | {post_time * 1e3:.2f} | {norm_time * 1e3:.2f} | "
            f"{100 * (ratio - 1):+.1f} % |"
        )
    part_losses = (torch.rand(args.parts, device=device) * 200).requires_grad_()
    post_time, norm_time, _ = compare(
        backward(lambda: part_losses.mean(), part_losses),
        backward(lambda: norm.reduce(part_losses), part_losses),
        part_losses.device,
        200,
        10,
    )
    print(
        f"\nThe fusions alone on F [{args.parts}]: mean {post_time * 1e6:.0f} us, "
        f"NormFusion.reduce {norm_time * 1e6:.0f} us (forward + backward)."
    )


if __name__ == "__main__":
    main()
