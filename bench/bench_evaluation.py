"""Benchmark the evaluation: whole evaluate() vs its matmuls, vs torchmetrics, and at OU-MVLP scale.

``--cases`` picks what runs (default ``whole torchmetrics``); every timing is a median over
``--repeats``, candidates alternating within each repetition in one process, once per thread
count in ``--threads``:

- ``whole``: ``evaluate`` (chunked distance + ranking + metrics, a retrieval protocol with one
  probe set of ``Q`` rows and a gallery of ``G = Q`` rows, ``C = 256``, ``P = 16``, 4 probe and
  4 gallery sequences per id) against the distance matrix products alone: a
  ``[P, q, C] @ [P, C, G]`` bmm on pre-permuted inputs, 1024 probe rows at a time into a reused
  output. Goal: at most 1.5x.
- ``torchmetrics``: ``rank_metrics`` on a given ``[2048, 10240]`` distance matrix against
  torchmetrics' ``RetrievalHitRate(top_k=k)`` for k = 1, 5, 10 and ``RetrievalMAP`` on the
  flattened pairs (the pairs' construction included); the numbers are asserted equal.
  Goal: at least 10x faster.
- ``views``: ``view_matrices`` (CASIA-B) on GEI-like features ``[13640, 4096, 1]``.
- ``oumvlp``: ``evaluate(protocol="oumvlp")`` on random features of ``--ids`` test ids x 14 views
  x 2 sequences (OU-MVLP: 5,154 ids, 144,312 rows), ``C = 256``, ``P = 16``, with a bounded
  ``--chunk``: wall time and peak RSS. Run each size in its own process (peak RSS is per
  process); once, on one thread count.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_evaluation.py --threads 1 2 --sizes 4096 10240
    nice .venv/bin/python bench/bench_evaluation.py --cases oumvlp --ids 516 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from gaitwave.evaluation import (
    PROTOCOLS,
    RetrievalProtocol,
    evaluate,
    part_distance,
    rank_metrics,
    view_matrices,
)
from timing import compare

OUMVLP_VIEWS = [f"{a:03d}" for a in (0, 15, 30, 45, 60, 75, 90, 180, 195, 210, 225, 240, 255, 270)]


def clustered(num_ids: int, per_id: int, channels: int, parts: int) -> tuple[torch.Tensor, ...]:
    """Embeddings ``[num_ids * per_id, C, P]`` around one random centre per id, and the ids.

    The noise (4 x the centres' scale) leaves a realistic task: at C = 256, P = 16, 2,000 gallery
    sequences, rank-1 is about 80% and mAP about 60%.
    """
    centres = torch.randn(num_ids, channels, parts)
    ids = torch.arange(num_ids).repeat_interleave(per_id)
    return centres[ids] + 4.0 * torch.randn(ids.numel(), channels, parts), ids


def bench_whole(size: int, args: argparse.Namespace) -> None:
    """evaluate() on Q = G = size against the distance matmuls alone."""
    emb, ids = clustered(size // 4, 8, args.channels, args.parts)  # per id: 4 probes, 4 gallery
    is_probe = torch.arange(ids.numel()) % 8 < 4
    probe, gallery = emb[is_probe], emb[~is_probe]
    all_ids = ids.tolist()
    types = ["probe" if flag else "gallery" for flag in is_probe.tolist()]
    spec = RetrievalProtocol(name="bench", probe_types=("probe",), gallery_types=("gallery",))
    probe_t = probe.permute(2, 0, 1).contiguous()  # [P, Q, C]
    gallery_t = gallery.permute(2, 1, 0).contiguous()  # [P, C, G]
    out = torch.empty(args.parts, 1024, size)

    def matmuls() -> None:
        for start in range(0, size, 1024):
            rows = probe_t[:, start : start + 1024]
            torch.bmm(rows, gallery_t, out=out[:, : rows.shape[1]])

    def whole() -> dict:
        return evaluate(emb, all_ids, types, protocol=spec)

    base, full, ratio = compare(matmuls, whole, torch.device("cpu"), args.repeats, args.warmup)
    print(
        f"  {size} x {size}: matmuls {base:.2f} s, evaluate {full:.2f} s, ratio {ratio:.2f}x "
        f"(rank-1 {whole()['rank1']:.1f})"
    )


def torchmetrics_numbers(dist: torch.Tensor, probe_ids: torch.Tensor, gallery_ids: torch.Tensor):
    """Rank-1/5/10 and mAP (%) with torchmetrics' retrieval metrics on the flattened pairs.

    torchmetrics 1.9 ignores non-positive scores (its PR #3104), so the score is
    ``max(dist) + 1 - dist`` in fp64, where it is exact: the same order as ``-dist``.
    """
    from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP

    num_probes, num_gallery = dist.shape
    preds = (dist.max().double() + 1.0 - dist.double()).flatten()
    target = (probe_ids.unsqueeze(1) == gallery_ids.unsqueeze(0)).flatten()
    indexes = torch.arange(num_probes).repeat_interleave(num_gallery)
    metrics = {"mAP": RetrievalMAP(empty_target_action="skip")}
    for k in (1, 5, 10):
        metrics[f"rank{k}"] = RetrievalHitRate(top_k=k, empty_target_action="skip")
    return {key: 100.0 * float(m(preds, target, indexes)) for key, m in metrics.items()}


def bench_torchmetrics(args: argparse.Namespace) -> None:
    """rank_metrics vs torchmetrics on a [2048, 10240] distance matrix; numbers asserted equal."""
    emb, ids = clustered(2560, 5, args.channels, args.parts)  # per id: 4 gallery, 1 probe
    is_probe = torch.arange(ids.numel()) % 5 == 4
    probe, probe_ids = emb[is_probe][:2048], ids[is_probe][:2048]
    gallery, gallery_ids = emb[~is_probe], ids[~is_probe]
    dist = part_distance(probe, gallery)

    def ours() -> dict:
        return rank_metrics(dist, probe_ids, gallery_ids, ks=(1, 5, 10))

    mine, theirs = ours(), torchmetrics_numbers(dist, probe_ids, gallery_ids)
    worst = max(abs(mine[key] - theirs[key]) for key in theirs)
    assert worst < 1e-4, f"rank_metrics and torchmetrics disagree: {mine} vs {theirs}"
    base, tm, ratio = compare(
        ours,
        lambda: torchmetrics_numbers(dist, probe_ids, gallery_ids),
        torch.device("cpu"),
        args.repeats,
        args.warmup,
    )
    shown = ", ".join(f"{key} {theirs[key]:.2f}" for key in theirs)
    print(
        f"  2048 x 10240: rank_metrics {base:.3f} s, torchmetrics {tm:.2f} s, "
        f"{ratio:.0f}x faster; equal numbers (max |diff| {worst:.1e} %): {shown}"
    )


def bench_views(args: argparse.Namespace) -> None:
    types = [f"nm-0{i}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"]
    views = [f"{angle:03d}" for angle in range(0, 181, 18)]
    rows = [(f"{i:03d}", t, v) for i in range(1, 125) for t in types for v in views]
    emb, _ = clustered(124, len(types) * len(views), 4096, 1)  # [13640, 4096, 1]
    ids, row_types, row_views = ([row[k] for row in rows] for k in range(3))
    gallery_rows = torch.tensor([t in PROTOCOLS["casiab"].gallery_types for t in row_types])
    probe_t = emb[~gallery_rows].permute(2, 0, 1).contiguous()
    gallery_t = emb[gallery_rows].permute(2, 1, 0).contiguous()
    base, whole, ratio = compare(
        lambda: torch.bmm(probe_t, gallery_t),
        lambda: view_matrices(emb, ids, row_types, row_views),
        torch.device("cpu"),
        args.repeats,
        args.warmup,
    )
    print(
        f"  view_matrices on [{emb.shape[0]}, 4096, 1] ({probe_t.shape[1]} probes x "
        f"{gallery_t.shape[2]} gallery): matmul {base:.2f} s, whole {whole:.2f} s, "
        f"ratio {ratio:.2f}x"
    )


def rss_gib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, GiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 2**20  # kB


def reset_peak_rss() -> None:
    """Linux: restart VmHWM from the current RSS (``/proc/self/clear_refs``, value 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def bench_oumvlp(args: argparse.Namespace) -> None:
    """evaluate(protocol="oumvlp") on ids x 14 views x 2 seqs: wall time and peak RSS."""
    rows = [(i, s, v) for i in range(args.ids) for s in ("00", "01") for v in OUMVLP_VIEWS]
    per_id = 2 * len(OUMVLP_VIEWS)
    emb = torch.randn(len(rows), args.channels, args.parts).mul_(4.0)  # made in place
    emb.view(args.ids, per_id, args.channels, args.parts).add_(
        torch.randn(args.ids, 1, args.channels, args.parts)
    )
    ids, types, views = ([row[k] for row in rows] for k in range(3))
    reset_peak_rss()
    before = rss_gib("VmRSS")
    start = time.perf_counter()
    metrics = evaluate(emb, ids, types, views, protocol="oumvlp", chunk_size=args.chunk)
    seconds = time.perf_counter() - start
    peak = rss_gib("VmHWM")
    num_probes = len(rows) // 2
    print(
        f"  {args.ids} ids, {len(rows)} rows ({num_probes} probes x {num_probes} gallery), chunk "
        f"{args.chunk} rows: {seconds:.1f} s; RSS before evaluate {before:.2f} GiB (features "
        f"{emb.numel() * 4 / 2**30:.2f} GiB), peak during evaluate {peak:.2f} GiB: +"
        f"{peak - before:.2f} GiB (a Q x G fp32 matrix: {num_probes**2 * 4 / 2**30:.1f} GiB); "
        f"NM/rank1 {metrics['NM/rank1']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["whole", "torchmetrics"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4096, 10240])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--parts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--ids", type=int, default=5154, help="oumvlp: test ids")
    parser.add_argument("--chunk", type=int, default=512, help="oumvlp: probe rows per chunk")
    args = parser.parse_args()

    torch.manual_seed(0)
    print(f"torch {torch.__version__}, CPU")
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"{threads} thread(s):")
        for case in args.cases:
            if case == "whole":
                for size in args.sizes:
                    bench_whole(size, args)
            elif case == "torchmetrics":
                bench_torchmetrics(args)
            elif case == "views":
                bench_views(args)
            elif case == "oumvlp":
                bench_oumvlp(args)
            else:
                parser.error(f"unknown case {case!r}; use whole, torchmetrics, views, oumvlp")


if __name__ == "__main__":
    main()
