"""Batched per-part pairwise scores: embeddings `[N, C, P]` -> score tensors `[P, N, M]`.

All parts are computed at once (one batched matmul), in fp32 or wider with autocast off, so a
bf16/fp16 forward pass still gets accurate distances. Used by the losses and reusable by evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_EPS = 1e-12  # smallest norm a cosine divides by (as F.normalize)


class _SelfGram(torch.autograd.Function):
    """`x [P, N, C] -> x x^T [P, N, N]`, whose backward `(g + g^T) x` takes one product, not two."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.bmm(x, x.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return torch.bmm(grad + grad.transpose(1, 2), x)


def _parts_first(x: Tensor, name: str) -> Tensor:
    """`[N, C, P]` -> `[P, N, C]`, upcast to at least fp32."""
    if x.dim() != 3:
        raise ValueError(
            f"gaitwave.losses.pairwise: `{name}` must be embeddings [N, C, P], got shape "
            f"{tuple(x.shape)}; reshape your features to [batch, channels, parts]."
        )
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return x.permute(2, 0, 1).contiguous()


def _check_same_layout(x: Tensor, y: Tensor) -> None:
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(
            "gaitwave.losses.pairwise: `x` and `y` must share channels and parts [*, C, P], got "
            f"{tuple(x.shape)} and {tuple(y.shape)}."
        )


def check_batch(x: Tensor, labels: Tensor, loss_name: str) -> None:
    """Raise a clear error unless `x` is `[N, ...]` and `labels` is int64 `[N]`."""
    if labels.dim() != 1 or labels.shape[0] != x.shape[0]:
        raise ValueError(
            f"gaitwave.losses.{loss_name}: labels must be [N] with N = x.shape[0] = {x.shape[0]}, "
            f"got shape {tuple(labels.shape)}."
        )
    if labels.dtype != torch.int64:
        raise TypeError(
            f"gaitwave.losses.{loss_name}: labels must be int64 identity indices, got "
            f"{labels.dtype}; convert them with `labels.long()`."
        )


def grouped_indices(keep: Tensor) -> tuple[Tensor, Tensor]:
    """Per row of a boolean `[R, N]` mask, the column indices where it holds, left-aligned.

    Used to gather each anchor's positives or negatives into a dense tensor.

    Returns:
        `index` int64 `[R, K]` and `valid` bool `[R, K]`, K the largest row count: rows with
        fewer entries are padded (with other columns), and `valid` marks the real ones.
    """
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    width = int(keep.sum(1).max())
    index = order[:, :width]
    return index, keep.gather(1, index)


def pairwise_euclidean(x: Tensor, y: Tensor | None = None) -> Tensor:
    """Per-part Euclidean distances `sqrt(relu(|x|^2 + |y|^2 - 2 x.y))`.

    Args:
        x: embeddings `[N, C, P]`.
        y: embeddings `[M, C, P]`; `None` means `x` itself, and then the diagonal is exactly 0
            (the squared norms are read off the Gram matrix, so `a + a - 2a` cancels exactly).

    Returns:
        distances `[P, N, M]` (same units as the embeddings), fp32 or fp64.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        xp = _parts_first(x, "x")
        if y is None:
            gram = _SelfGram.apply(xp)
            x_squared = y_squared = gram.diagonal(dim1=1, dim2=2)
        else:
            _check_same_layout(x, y)
            yp = _parts_first(y, "y")
            gram = torch.bmm(xp, yp.transpose(1, 2))
            x_squared, y_squared = (xp * xp).sum(-1), (yp * yp).sum(-1)
        squared = x_squared.unsqueeze(2) + y_squared.unsqueeze(1) - 2 * gram
        return torch.sqrt(F.relu(squared))


def pairwise_cosine(x: Tensor, y: Tensor | None = None) -> Tensor:
    """Per-part cosine similarities in `[-1, 1]` (zero vectors give 0).

    Args:
        x: embeddings `[N, C, P]`.
        y: embeddings `[M, C, P]`; `None` means `x` itself.

    Returns:
        similarities `[P, N, M]`, fp32 or fp64.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        xp = _parts_first(x, "x")
        if y is None:
            gram = _SelfGram.apply(xp)
            x_norm = y_norm = gram.diagonal(dim1=1, dim2=2).clamp_min(_EPS**2).sqrt()
        else:
            _check_same_layout(x, y)
            yp = _parts_first(y, "y")
            gram = torch.bmm(xp, yp.transpose(1, 2))
            x_norm = torch.linalg.vector_norm(xp, dim=-1).clamp_min(_EPS)
            y_norm = torch.linalg.vector_norm(yp, dim=-1).clamp_min(_EPS)
        return gram / (x_norm.unsqueeze(2) * y_norm.unsqueeze(1))
