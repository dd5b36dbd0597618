"""Part-mean distances between embeddings ``[N, C, P]`` (PROTOCOLS.md, Distance).

The distance between two sequences is the mean over parts of the per-part distance, never one
distance over the concatenated parts:

- ``euc``: ``mean_p sqrt(relu(|x_p|^2 + |y_p|^2 - 2 x_p . y_p))``
- ``cos``: ``1 - mean_p cos(x_p, y_p)``

All parts are handled at once by batched matmuls over ``P``. Probes are processed in chunks of
rows, so the largest temporary is ``[P, chunk, G]`` instead of ``[P, Q, G]``. Each probe row is
computed independently of the others; chunking only changes the shapes handed to the matmul, so
values agree with the unchunked product up to the last bit of floating-point rounding (exactly
when the dot products are exact, e.g. integer-valued embeddings).
"""

from collections.abc import Iterator

import torch
from torch import Tensor

METRICS = ("euc", "cos")

# Default bound on the [P, chunk, G] temporary: 2**26 elements (256 MiB in fp32). Smaller blocks
# were slower on the shared 2-core dev machine (many small multi-threaded ops), larger ones buy
# little; see bench/README.md, "Evaluation".
DEFAULT_CHUNK_ELEMENTS = 2**26


def default_chunk_size(num_gallery: int, num_parts: int) -> int:
    """Probe rows per chunk so that a ``[P, chunk, G]`` block holds about 2**26 elements."""
    return max(1, DEFAULT_CHUNK_ELEMENTS // max(1, num_gallery * num_parts))


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


def _parts_first(emb: Tensor, dtype: torch.dtype) -> Tensor:
    """``[N, C, P]`` -> contiguous ``[P, N, C]`` in ``dtype``."""
    return emb.to(dtype).permute(2, 0, 1).contiguous()


def iter_part_distance(
    probe: Tensor, gallery: Tensor, metric: str = "euc", chunk_size: int | None = None
) -> Iterator[tuple[int, Tensor]]:
    """Yield ``(start, dist)`` for consecutive probe chunks; ``dist`` is ``[chunk, G]``.

    ``probe [Q, C, P]``, ``gallery [G, C, P]``; ``chunk_size`` probe rows per chunk (default:
    :func:`default_chunk_size`). Distances are fp32 (fp64 for fp64 inputs).
    """
    _check_inputs(probe, gallery, metric)
    num_probes, _, num_parts = probe.shape
    if chunk_size is None:
        chunk_size = default_chunk_size(gallery.shape[0], num_parts)
    if chunk_size < 1:
        raise ValueError(f"part_distance: chunk_size must be >= 1, got {chunk_size}")
    dtype = _compute_dtype(probe)
    gallery_pc = _parts_first(gallery, dtype)  # [P, G, C]
    if metric == "cos":
        gallery_rhs = torch.nn.functional.normalize(gallery_pc, dim=2).transpose(1, 2)
    else:
        # Augmented operands: [x, |x|^2, 1] . [-2y, 1, |y|^2] = |x|^2 + |y|^2 - 2 x.y, so one
        # batched matmul gives the squared distances without extra passes over [P, q, G].
        ones = gallery_pc.new_ones((*gallery_pc.shape[:2], 1))
        squares = gallery_pc.pow(2).sum(2, keepdim=True)
        gallery_rhs = torch.cat([-2.0 * gallery_pc, ones, squares], dim=2).transpose(1, 2)
    for start in range(0, num_probes, chunk_size):
        chunk = _parts_first(probe[start : start + chunk_size], dtype)  # [P, q, C]
        if metric == "cos":
            chunk = torch.nn.functional.normalize(chunk, dim=2)
            yield start, 1.0 - torch.bmm(chunk, gallery_rhs).mean(0)
        else:
            ones = chunk.new_ones((*chunk.shape[:2], 1))
            chunk_lhs = torch.cat([chunk, chunk.pow(2).sum(2, keepdim=True), ones], dim=2)
            squared = torch.bmm(chunk_lhs, gallery_rhs)  # [P, q, G]
            yield start, squared.clamp_min_(0.0).sqrt_().mean(0)


def part_distance(
    probe: Tensor, gallery: Tensor, metric: str = "euc", chunk_size: int | None = None
) -> Tensor:
    """Part-mean distance matrix ``[Q, G]`` between ``probe [Q, C, P]`` and ``gallery [G, C, P]``.

    ``metric`` is ``"euc"`` or ``"cos"`` (module docstring). Works on any device; half and
    bfloat16 inputs are computed in fp32, fp64 stays fp64. ``chunk_size`` bounds the memory to
    ``[P, chunk_size, G]`` at a time (default: :func:`default_chunk_size`).
    """
    chunks = [dist for _, dist in iter_part_distance(probe, gallery, metric, chunk_size)]
    if not chunks:
        dtype = _compute_dtype(probe)
        return torch.empty(0, gallery.shape[0], dtype=dtype, device=probe.device)
    return torch.cat(chunks)
