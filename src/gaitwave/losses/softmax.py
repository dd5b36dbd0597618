"""Softmax cross-entropy per part on cosine logits, with optional CosFace / ArcFace margins."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gaitwave.losses.pairwise import check_batch

MARGIN_TYPES = ("none", "cos", "arc")
_SIN_EPS = 1e-6  # floor of 1 - cos^2 in ArcFace, keeps the sqrt gradient finite at |cos| = 1


class SoftmaxLoss(nn.Module):
    """Scaled softmax cross-entropy, one value per part.

    The input logits are cosine similarities in `[-1, 1]` (the head normalises the BNNeck
    features and the classifier weights). On the target class the loss applies the margin
    (`"cos"`: CosFace, `cos - margin`; `"arc"`: ArcFace, `cos(theta + margin)`, continued
    linearly past `theta + margin = pi`), multiplies every logit by `scale`, then takes
    `F.cross_entropy(reduction="none", label_smoothing=...)` per sample and part and the mean
    over samples.

    Args:
        scale: logit scale (default 16).
        label_smoothing: in `[0, 1)` (default 0.1).
        margin: additive margin (cosine units for "cos", radians for "arc"); 0 for "none".
        margin_type: "none" (default), "cos" or "arc".
    """

    def __init__(
        self,
        scale: float = 16.0,
        label_smoothing: float = 0.1,
        margin: float = 0.0,
        margin_type: str = "none",
    ) -> None:
        super().__init__()
        if margin_type not in MARGIN_TYPES:
            raise ValueError(
                f"SoftmaxLoss: margin_type must be one of {MARGIN_TYPES}, got {margin_type!r}."
            )
        if margin_type == "none" and margin != 0:
            raise ValueError(
                f"SoftmaxLoss: margin={margin} has no effect with margin_type='none'; set "
                "margin_type='cos' or 'arc', or margin=0."
            )
        if margin < 0:
            raise ValueError(f"SoftmaxLoss: margin must be >= 0, got {margin}.")
        if scale <= 0:
            raise ValueError(f"SoftmaxLoss: scale must be > 0, got {scale}.")
        if not 0 <= label_smoothing < 1:
            raise ValueError(
                f"SoftmaxLoss: label_smoothing must be in [0, 1), got {label_smoothing}."
            )
        self.scale = float(scale)
        self.label_smoothing = float(label_smoothing)
        self.margin = float(margin)
        self.margin_type = margin_type

    def scores(self, x: Tensor) -> Tensor:
        """Cosine logits `[N, K, P]` (K classes) -> per-part logits `[P, N, K]`."""
        if x.dim() != 3:
            raise ValueError(
                f"SoftmaxLoss: logits must be [N, K, P] (K classes, P parts), got shape "
                f"{tuple(x.shape)}."
            )
        return x.permute(2, 0, 1)

    def _target_with_margin(self, cos: Tensor) -> Tensor:
        """Cosine of the target class `[...]` -> the margin-adjusted target logit (unscaled)."""
        if self.margin_type == "cos":
            return cos - self.margin
        sin = torch.sqrt((1 - cos * cos).clamp_min(_SIN_EPS))
        shifted = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        # Past theta + margin = pi, cos(theta + margin) would rise again: continue linearly.
        return torch.where(
            cos > math.cos(math.pi - self.margin),
            shifted,
            cos - self.margin * math.sin(self.margin),
        )

    def part_losses(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Cosine logits `[P', N, K]` and class labels `[N]` in `[0, K)` -> losses `[P']`."""
        check_batch(scores.transpose(0, 1), labels, "SoftmaxLoss")
        with torch.autocast(device_type=scores.device.type, enabled=False):
            cos = scores if scores.dtype == torch.float64 else scores.float()
            if self.margin_type != "none":
                index = labels.view(1, -1, 1).expand(cos.shape[0], -1, 1)
                target = self._target_with_margin(cos.gather(2, index))
                cos = cos.scatter(2, index, target)
            logits = (self.scale * cos).permute(1, 2, 0)  # [N, K, P']
            targets = labels.unsqueeze(1).expand(-1, cos.shape[0])  # [N, P']
            per_sample = F.cross_entropy(
                logits, targets, reduction="none", label_smoothing=self.label_smoothing
            )
            return per_sample.mean(dim=0)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Cosine logits `[N, K, P]`, class labels int64 `[N]` -> per-part losses `[P]`."""
        check_batch(x, labels, "SoftmaxLoss")
        return self.part_losses(self.scores(x), labels)
