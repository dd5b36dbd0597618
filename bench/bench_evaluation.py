"""Benchmark the evaluation: the whole of part_distance + rank_metrics vs the matmuls alone.

1. ``Q x G`` probes and gallery (default 4096 x 4096, ``C = 256``, ``P = 16``): the time of
   ``part_distance`` + ``rank_metrics`` against the batched matmul those distances need, done
   in one ``[P, Q, C] @ [P, C, G]`` product on pre-permuted inputs. Goal: at most 1.5x.
2. ``casiab_view_matrices`` on GEI-like features ``[N, 4096, 1]`` with the full CASIA-B layout
   (124 ids x 10 types x 11 views = 13,640 rows), against its matmul alone.

The candidates run in turn within every repetition, in alternating order, in one process, so
machine noise hits both alike. Reported: the median time of each and the median of the
per-repetition ratios. Results go in bench/README.md (section "Evaluation").

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_evaluation.py --threads 1
"""

from __future__ import annotations

import argparse

import torch

from gaitwave.evaluation import casiab_view_matrices, part_distance, rank_metrics
from gaitwave.evaluation.distance import default_chunk_size
from gaitwave.evaluation.protocols import CASIAB
from timing import compare


def clustered(num_ids: int, per_id: int, channels: int, parts: int, device: torch.device):
    """Embeddings ``[num_ids * per_id, C, P]`` around one random centre per id, and the ids."""
    centres = torch.randn(num_ids, channels, parts, device=device)
    ids = torch.arange(num_ids, device=device).repeat_interleave(per_id)
    return centres[ids] + 1.5 * torch.randn(ids.numel(), channels, parts, device=device), ids


def bench_rank_metrics(args: argparse.Namespace, device: torch.device) -> None:
    num_ids = args.size // args.per_id
    probe, probe_ids = clustered(num_ids, args.per_id, args.channels, args.parts, device)
    gallery = probe[torch.randperm(probe.shape[0], device=device)] + 0.5 * torch.randn_like(probe)
    gallery_ids = probe_ids.clone()
    probe_ids, gallery_ids = probe_ids.cpu(), gallery_ids.cpu()
    chunk_size = default_chunk_size(gallery.shape[0], args.parts)
    probe_t = probe.permute(2, 0, 1).contiguous()
    gallery_t = gallery.permute(2, 1, 0).contiguous()

    def whole() -> dict:
        return rank_metrics(part_distance(probe, gallery, args.metric), probe_ids, gallery_ids)

    base_time, whole_time, ratio = compare(
        lambda: torch.bmm(probe_t, gallery_t),
        whole,
        device,
        args.repeats,
        args.warmup,
    )
    dist = part_distance(probe, gallery, args.metric)
    distance_time, rank_time, _ = compare(
        lambda: part_distance(probe, gallery, args.metric),
        lambda: rank_metrics(dist, probe_ids, gallery_ids),
        device,
        args.repeats,
        args.warmup,
    )
    print(
        f"{args.size} x {args.size}, C={args.channels}, P={args.parts}, {args.metric}, "
        f"{args.per_id} per id, default chunk {chunk_size} rows: matmul {base_time:.3f} s, "
        f"part_distance + rank_metrics {whole_time:.3f} s, ratio {ratio:.2f}x "
        f"(part_distance alone {distance_time:.3f} s, rank_metrics alone {rank_time:.3f} s)"
    )


def bench_view_matrices(args: argparse.Namespace, device: torch.device) -> None:
    types = [f"nm-0{i}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"]
    views = [f"{angle:03d}" for angle in range(0, 181, 18)]
    rows = [(f"{i:03d}", t, v) for i in range(1, 125) for t in types for v in views]
    emb, _ = clustered(124, len(types) * len(views), 4096, 1, device)  # [13640, 4096, 1]
    ids, row_types, row_views = ([row[k] for row in rows] for k in range(3))
    gallery_rows = torch.tensor([t in CASIAB.gallery_types for t in row_types])
    probe_t = emb[~gallery_rows.to(device)].permute(2, 0, 1).contiguous()
    gallery_t = emb[gallery_rows.to(device)].permute(2, 1, 0).contiguous()
    base_time, whole_time, ratio = compare(
        lambda: torch.bmm(probe_t, gallery_t),
        lambda: casiab_view_matrices(emb, ids, row_types, row_views, args.metric),
        device,
        args.view_repeats,
        1,
    )
    print(
        f"casiab_view_matrices on [{emb.shape[0]}, 4096, 1] ({probe_t.shape[1]} probes x "
        f"{gallery_t.shape[2]} gallery): matmul {base_time:.3f} s, whole {whole_time:.3f} s, "
        f"ratio {ratio:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="probes = gallery sequences")
    parser.add_argument("--per-id", type=int, default=4, help="sequences per id")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--parts", type=int, default=16)
    parser.add_argument("--metric", default="euc", choices=["euc", "cos"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--view-repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-views", action="store_true", help="skip the GEI view matrices")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    bench_rank_metrics(args, device)
    if not args.skip_views:
        bench_view_matrices(args, device)


if __name__ == "__main__":
    main()
