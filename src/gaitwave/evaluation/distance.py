"""Part-mean distances between embeddings ``[N, C, P]`` (docs/PROTOCOLS.md, "Distance").

The distance between two sequences is the mean over parts of the per-part distance, never one
distance over the concatenated parts:

- ``euc``: ``mean_p sqrt(relu(|x_p|^2 + |y_p|^2 - 2 x_p . y_p))``
- ``cos``: ``1 - mean_p cos(x_p, y_p)``

Probes are processed in chunks of rows, and on CPU the gallery in tiles of 512 columns. For each
(chunk, tile), one matrix product per part fills a reused ``[chunk, tile]`` block that is then
clamped, square-rooted and added to the tile's total: the temporaries are cache-sized, never
``[P, Q, G]``, and the passes after each product read the cache, not memory. Each probe row is
computed independently of the others; chunking only changes the shapes handed to the matmul, so
values agree with the unchunked product up to the last bit of floating-point rounding (exactly
when the dot products are exact, e.g. integer-valued embeddings).
"""

from collections.abc import Iterator

import torch
from torch import Tensor

METRICS = ("euc", "cos")

# CPU: 512 probe rows x 512 gallery columns per block (1 MiB in fp32) keep each per-part matmul
# efficient and the passes after it in cache; see bench/README.md, "Evaluation". Other devices
# take whole gallery rows and larger chunks (fewer kernel launches): about 2**24 elements.
DEFAULT_CPU_CHUNK_ROWS = 512
CPU_TILE_COLUMNS = 512
DEFAULT_GPU_CHUNK_ELEMENTS = 2**24


def default_chunk_size(num_gallery: int, device: torch.device | str = "cpu") -> int:
    """Probe rows per chunk: 512 on CPU, about ``2**24 / G`` elsewhere (at least 1)."""
    if torch.device(device).type == "cpu":
        return DEFAULT_CPU_CHUNK_ROWS
    return max(1, DEFAULT_GPU_CHUNK_ELEMENTS // max(1, num_gallery))


def _check_inputs(probe: Tensor, gallery: Tensor, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"part_distance: metric={metric!r} is unknown; use one of {METRICS}")
    for name, emb in (("probe", probe), ("gallery", gallery)):
        if not isinstance(emb, Tensor) or emb.dim() != 3:
            shape = tuple(emb.shape) if isinstance(emb, Tensor) else type(emb).__name__
            raise ValueError(f"part_distance: {name} must be a tensor [N, C, P], got {shape}")
        if not emb.is_floating_point():
            raise TypeError(f"part_distance: {name} must be a float tensor, got {emb.dtype}")
    if probe.shape[1:] != gallery.shape[1:]:
        raise ValueError(
            "part_distance: probe and gallery must share [C, P], got "
            f"probe {tuple(probe.shape)} and gallery {tuple(gallery.shape)}"
        )
    if probe.device != gallery.device:
        raise ValueError(
            f"part_distance: probe is on {probe.device} but gallery on {gallery.device}; "
            "move both to one device"
        )


def _compute_dtype(emb: Tensor) -> torch.dtype:
    """fp64 stays fp64; every other float dtype is computed (and accumulated) in fp32."""
    return torch.float64 if emb.dtype == torch.float64 else torch.float32


def _fill_operand(out: Tensor, emb: Tensor, metric: str, gallery: bool) -> Tensor:
    """Write the matmul operand of ``emb [n, C, P]`` into ``out[:n]`` (``[n, P, K]``); return it.

    Part ``p`` of the operand is the ``[n, K]`` view ``[:, p]``. ``cos``: the unit vectors
    (``K = C``). ``euc``: augmented vectors (``K = C + 2``), probe ``[x, |x|^2, 1]`` and gallery
    ``[-2y, 1, |y|^2]``, whose product is ``|x|^2 + |y|^2 - 2 x.y``: one matmul gives the squared
    distances without extra passes over the ``[chunk, G]`` block.
    """
    num, channels, parts = emb.shape
    out = out[:num]
    vectors = out[:, :, :channels]
    vectors.copy_(emb.transpose(1, 2))  # a [C, P] -> [P, C] transpose per row: cache-friendly
    if metric == "cos":
        norms = torch.linalg.vector_norm(vectors, dim=2, keepdim=True)
        return vectors.div_(norms.clamp_min_(1e-12))  # as torch.nn.functional.normalize
    squares = torch.stack([vectors[:, p].pow(2).sum(1) for p in range(parts)], 1)  # [n, P]
    if gallery:
        vectors.mul_(-2.0)
        out[:, :, channels] = 1.0
        out[:, :, channels + 1] = squares
    else:
        out[:, :, channels] = squares
        out[:, :, channels + 1] = 1.0
    return out


def iter_part_distance(
    probe: Tensor,
    gallery: Tensor,
    metric: str = "euc",
    chunk_size: int | None = None,
    probe_rows: Tensor | None = None,
) -> Iterator[tuple[int, Tensor]]:
    """Yield ``(start, dist)`` for consecutive probe chunks; ``dist`` is ``[chunk, G]``.

    ``probe [Q, C, P]``, ``gallery [G, C, P]``; ``chunk_size`` probe rows per chunk (default:
    :func:`default_chunk_size`). With ``probe_rows`` (int64 ``[Q']``) the probes are
    ``probe[probe_rows]``, gathered one chunk at a time instead of copied whole. Distances are
    fp32 (fp64 for fp64 inputs). Every buffer is allocated once and reused: ``dist`` is
    overwritten by the next chunk (copy it to keep it), so that the memory is a few chunks,
    allocated once (fresh allocations of this size cost page faults on every chunk).
    """
    _check_inputs(probe, gallery, metric)
    num_parts, num_gallery = probe.shape[2], gallery.shape[0]
    num_probes = probe.shape[0] if probe_rows is None else probe_rows.numel()
    if chunk_size is None:
        chunk_size = default_chunk_size(num_gallery, probe.device)
    if chunk_size < 1:
        raise ValueError(f"part_distance: chunk_size must be >= 1, got {chunk_size}")
    dtype = _compute_dtype(probe)
    width = probe.shape[1] + (2 if metric == "euc" else 0)  # K
    gallery_rhs = gallery.new_empty((num_gallery, num_parts, width), dtype=dtype)
    _fill_operand(gallery_rhs, gallery.to(dtype), metric, gallery=True)  # [G, P, K]
    del gallery  # the caller's gallery may be a temporary copy: free it while we run
    rows = min(chunk_size, num_probes)
    lhs_buffer = gallery_rhs.new_empty(rows, num_parts, width)
    gathered = probe.new_empty(rows, *probe.shape[1:]) if probe_rows is not None else None
    dist_buffer = gallery_rhs.new_empty(rows, num_gallery)
    tile = CPU_TILE_COLUMNS if probe.device.type == "cpu" else max(1, num_gallery)
    block = total = None
    for start in range(0, num_probes, chunk_size):
        if probe_rows is None:
            chunk = probe[start : start + chunk_size]
        else:
            chunk_rows = probe_rows[start : start + chunk_size]
            chunk = torch.index_select(probe, 0, chunk_rows, out=gathered[: chunk_rows.numel()])
        lhs = _fill_operand(lhs_buffer, chunk.to(dtype), metric, gallery=False)  # [q, P, K]
        dist = dist_buffer[: lhs.shape[0]]
        for first in range(0, num_gallery, tile):
            rhs = gallery_rhs[first : first + tile]  # [w, P, K]
            if block is None or block.shape != (lhs.shape[0], rhs.shape[0]):
                block = lhs.new_empty(lhs.shape[0], rhs.shape[0])
                total = torch.empty_like(block)
            for part in range(num_parts):
                product = total if part == 0 else block
                torch.mm(lhs[:, part], rhs[:, part].t(), out=product)
                if metric == "euc":
                    product.clamp_min_(0.0).sqrt_()
                if part > 0:
                    total += block
            columns = dist[:, first : first + tile]
            if metric == "euc":
                torch.div(total, num_parts, out=columns)
            else:
                torch.div(total, -num_parts, out=columns).add_(1.0)  # exactly 1 - total / P
        yield start, dist


def part_distance(
    probe: Tensor, gallery: Tensor, metric: str = "euc", chunk_size: int | None = None
) -> Tensor:
    """Part-mean distance matrix ``[Q, G]`` between ``probe [Q, C, P]`` and ``gallery [G, C, P]``.

    ``metric`` is ``"euc"`` or ``"cos"`` (module docstring). Works on any device; half and
    bfloat16 inputs are computed in fp32, fp64 stays fp64. ``chunk_size`` probe rows are computed
    at a time (default: :func:`default_chunk_size`); the result itself is ``[Q, G]``.
    """
    dtype = _compute_dtype(probe)
    out = probe.new_empty((probe.shape[0], gallery.shape[0]), dtype=dtype)
    for start, dist in iter_part_distance(probe, gallery, metric, chunk_size):
        out[start : start + dist.shape[0]] = dist
    return out
