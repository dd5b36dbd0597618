"""Head pieces: temporal max, horizontal (pyramid) pooling, part-wise FCs, BNNeck, GaitHead, and
GaitPart's temporal feature aggregator and head.

Shapes: feature maps `[N, C, T, H, W]`, part features and embeddings `[N, C, P]`, logits
`[N, K, P]` (N sequences, C channels, P parts, K classes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gaitwave.models.layers import PartConv1d


def valid_frames(
    lengths: torch.Tensor, n: int, t: int, device: torch.device, name: str
) -> torch.Tensor:
    """Mask `[N, T]` (bool), True for the valid frames `t < lengths[n]` of each sequence.

    `lengths [N]` (int) must lie in [1, T]; `name` is the caller, for the error message.
    """
    if lengths.shape != (n,):
        raise ValueError(
            f"{name}: `lengths` must have shape [N] = [{n}], got {tuple(lengths.shape)}"
        )
    if bool(((lengths < 1) | (lengths > t)).any()):
        raise ValueError(
            f"{name}: every entry of `lengths` must lie in [1, T] = [1, {t}], "
            f"got {lengths.tolist()}"
        )
    return torch.arange(t, device=device) < lengths.to(device)[:, None]


def check_feature_maps(head: str, feature_maps: torch.Tensor, in_channels: int) -> None:
    """Raise unless `feature_maps` is `[N, C, T, H, W]` with `C = in_channels`."""
    if feature_maps.dim() != 5 or feature_maps.shape[1] != in_channels:
        raise ValueError(
            f"{head} expects feature maps [N, C, T, H, W] with C = in_channels = "
            f"{in_channels}, got shape {tuple(feature_maps.shape)}"
        )


def temporal_max(x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Max over the valid frames of each sequence: `[N, C, T, H, W] -> [N, C, H, W]`.

    `lengths [N]` (int) counts the valid frames of each sequence; frames at `t >= lengths[n]`
    are padding and are masked with -inf before the max. `None` means every frame is valid.
    """
    if x.dim() != 5:
        raise ValueError(f"temporal_max expects x [N, C, T, H, W], got shape {tuple(x.shape)}")
    if lengths is None:
        return x.amax(dim=2)
    valid = valid_frames(lengths, x.shape[0], x.shape[2], x.device, "temporal_max")
    return x.masked_fill(~valid[:, None, :, None, None], float("-inf")).amax(dim=2)


def _check_bins(bins: Sequence[int]) -> tuple[int, ...]:
    bins = tuple(int(b) for b in bins)
    if not bins or min(bins) < 1:
        raise ValueError(f"horizontal pooling: `bins` must be positive integers, got {bins}")
    return bins


def _check_maps(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} expects x [N, C, H, W], got shape {tuple(x.shape)}")


class HorizontalPooling(nn.Module):
    """Horizontal pyramid pooling: mean + max per horizontal strip, `[N, C, H, W] -> [N, C, P]`.

    For each entry b of `bins` the height is cut into b strips, top to bottom, and each strip
    gives `mean + max` over its rows and columns; the parts of all bins are concatenated,
    `P = sum(bins)`. Strip i covers rows `floor(i H / b)` to `ceil((i + 1) H / b) - 1` (adaptive
    pooling): equal strips when b divides H (OpenGait's HPP), overlapping or repeated rows
    otherwise (for example 8 rows into 16 parts at 32 x 22 input: each row feeds two parts).
    """

    def __init__(self, bins: Sequence[int] = (16,)) -> None:
        super().__init__()
        self.bins = _check_bins(bins)

    @property
    def parts(self) -> int:
        return sum(self.bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x, "HorizontalPooling")
        strips = [
            F.adaptive_avg_pool2d(x, (b, 1)) + F.adaptive_max_pool2d(x, (b, 1)) for b in self.bins
        ]
        return torch.cat(strips, dim=2).squeeze(3)


class GeMHorizontalPooling(nn.Module):
    """Generalised-mean horizontal pooling (GaitGL's GeM-HPP), `[N, C, H, W] -> [N, C, P]`.

    Per strip (the same strips as `HorizontalPooling`): `mean(clamp(x, eps) ** p) ** (1 / p)`
    with one learnable exponent p (initial value `p`); p = 1 is the mean, large p the max.
    """

    def __init__(self, bins: Sequence[int] = (64,), p: float = 6.5, eps: float = 1e-6) -> None:
        super().__init__()
        self.bins = _check_bins(bins)
        if p <= 0:
            raise ValueError(f"GeMHorizontalPooling: `p` must be > 0, got {p}")
        self.p = nn.Parameter(torch.full((1,), float(p)))
        self.eps = eps

    @property
    def parts(self) -> int:
        return sum(self.bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_maps(x, "GeMHorizontalPooling")
        powered = x.clamp(min=self.eps).pow(self.p)
        strips = [F.adaptive_avg_pool2d(powered, (b, 1)) for b in self.bins]
        return torch.cat(strips, dim=2).squeeze(3).pow(1.0 / self.p)


def _xavier_uniform_per_part(weight: torch.Tensor) -> None:
    """Xavier-uniform init of a `[P, C_in, C_out]` weight, fans counted per part."""
    bound = math.sqrt(6.0 / (weight.shape[1] + weight.shape[2]))
    nn.init.uniform_(weight, -bound, bound)


def _part_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`x [N, C, P]` times `weight [P, C, D]` part by part, one batched matmul -> `[N, D, P]`."""
    return torch.matmul(x.permute(2, 0, 1), weight).permute(1, 2, 0)


class PartFC(nn.Module):
    """A separate linear map (no bias) per part: `[N, C, P] -> [N, C', P]`.

    Weight `[P, C, C']`, xavier-uniform per part.
    """

    def __init__(self, in_channels: int, out_channels: int, parts: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.parts = in_channels, out_channels, parts
        self.weight = nn.Parameter(torch.empty(parts, in_channels, out_channels))
        _xavier_uniform_per_part(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.in_channels, self.parts):
            raise ValueError(
                f"PartFC expects x [N, C, P] = [N, {self.in_channels}, {self.parts}], "
                f"got shape {tuple(x.shape)}"
            )
        return _part_matmul(x, self.weight)


class BNNeck(nn.Module):
    """Part-wise BNNeck and cosine classifier: `[N, C, P] -> ([N, C, P], [N, K, P])`.

    One BatchNorm1d over the flattened `C * P` features (each channel of each part has its own
    statistics), then per part a classifier whose features and class weights are
    L2-normalised over C: the logits are cosine similarities in [-1, 1] (the loss applies the
    scale and margins). The classifier runs in float32 even under autocast. Class weights
    `[P, C, K]` are xavier-uniform per part; BatchNorm weight 1, bias 0.
    """

    def __init__(self, channels: int, parts: int, num_classes: int) -> None:
        super().__init__()
        self.channels, self.parts, self.num_classes = channels, parts, num_classes
        self.bn = nn.BatchNorm1d(channels * parts)
        self.class_weight = nn.Parameter(torch.empty(parts, channels, num_classes))
        _xavier_uniform_per_part(self.class_weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x [N, C, P]` -> `(bn_features [N, C, P], logits [N, K, P])`."""
        if x.dim() != 3 or x.shape[1:] != (self.channels, self.parts):
            raise ValueError(
                f"BNNeck expects x [N, C, P] = [N, {self.channels}, {self.parts}], "
                f"got shape {tuple(x.shape)}"
            )
        n = x.shape[0]
        bn_features = self.bn(x.reshape(n, -1)).view(n, self.channels, self.parts)
        with torch.autocast(device_type=x.device.type, enabled=False):
            features = F.normalize(bn_features.float(), dim=1)
            weight = F.normalize(self.class_weight.float(), dim=1)
            logits = _part_matmul(features, weight)
        return bn_features, logits


class GaitHead(nn.Module):
    """Temporal max -> horizontal pooling -> part-wise FCs -> BNNeck.

    `forward(feature_maps [N, C, T, H, W], lengths [N] | None)` returns a dict:
    `embeddings [N, D, P]` (the PartFC output, for triplet / circle losses and evaluation),
    `bn_embeddings [N, D, P]` (after the BNNeck BatchNorm) and `logits [N, K, P]` (cosine
    similarities). `pooling="hpp"` is mean + max per strip, `"gem"` the GeM variant.
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int = 64,
        bins: Sequence[int] = (16,),
        num_classes: int = 74,
        pooling: str = "hpp",
    ) -> None:
        super().__init__()
        if pooling == "hpp":
            self.pooling: nn.Module = HorizontalPooling(bins)
        elif pooling == "gem":
            self.pooling = GeMHorizontalPooling(bins)
        else:
            raise ValueError(f"GaitHead: `pooling` must be 'hpp' or 'gem', got {pooling!r}")
        parts = self.pooling.parts
        self.in_channels = in_channels
        self.part_fc = PartFC(in_channels, embed_dim, parts)
        self.bnneck = BNNeck(embed_dim, parts, num_classes)

    def forward(
        self, feature_maps: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        check_feature_maps("GaitHead", feature_maps, self.in_channels)
        pooled = self.pooling(temporal_max(feature_maps, lengths))
        embeddings = self.part_fc(pooled)
        bn_embeddings, logits = self.bnneck(embeddings)
        return {"embeddings": embeddings, "bn_embeddings": bn_embeddings, "logits": logits}


class TemporalFeatureAggregator(nn.Module):
    """GaitPart's micro-motion capture module: `parts [N, C, T, P] -> [N, C, P]`.

    Per part and frame, two micro-motion templates over a short window of frames, each weighted
    by its own channel attention, then summed and max-pooled over time:

    - 3-frame branch: template `avg3(x) + max3(x)` (sliding mean and max over the frames t-1..t+1),
      attention `sigmoid(conv_k1(leaky_relu(conv_k3(x))))`;
    - 5-frame branch: template `avg5(x) + max5(x)`, attention
      `sigmoid(conv_k3(leaky_relu(conv_k3(x))))`;
    - output: `max_t (template3 * attention3 + template5 * attention5)`.

    The temporal convs are bias-free 1D convs with their own weights per part (`PartConv1d`,
    C -> C / squeeze -> C, zero padding keeping T). As in OpenGait, a sliding mean counts the
    frames beyond the ends as zeros (it always divides by the window size) and a sliding max
    ignores them. Any T >= 1 works, shorter than the windows included.

    `lengths [N]` (valid frames per sequence) makes a padded batch equal to each sequence on its
    own: padding frames are zeroed before the convs and the sliding means, left out of the sliding
    maxima, zeroed again between the two convs of an attention (the second 3-frame conv would see
    them) and left out of the final max. Padded frames get zero gradients, never NaN.

    OpenGait names (its `TFA.pooling_func`, a `TemporalFeatureAggregator`): per part p,
    `conv1d3x1.{p}.{j}.conv.weight` `[C', C, k]` is `conv1d3x1.{j}.weight[p]` here (j = 0, 2), and
    the same for `conv1d3x3`: stack OpenGait's 16 part weights along a new first axis.
    """

    def __init__(self, in_channels: int, parts: int = 16, squeeze: int = 4) -> None:
        super().__init__()
        hidden = in_channels // squeeze
        if hidden < 1:
            raise ValueError(
                f"TemporalFeatureAggregator: in_channels // squeeze must be >= 1, got "
                f"in_channels={in_channels}, squeeze={squeeze}"
            )
        self.in_channels, self.parts = in_channels, parts
        self.conv1d3x1 = nn.Sequential(
            PartConv1d(in_channels, hidden, parts, 3),
            nn.LeakyReLU(),
            PartConv1d(hidden, in_channels, parts, 1),
        )
        self.conv1d3x3 = nn.Sequential(
            PartConv1d(in_channels, hidden, parts, 3),
            nn.LeakyReLU(),
            PartConv1d(hidden, in_channels, parts, 3),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`x [N, C, T, P]` (per-frame part features), `lengths [N] | None` -> `[N, C, P]`."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[3] != self.parts:
            raise ValueError(
                f"TemporalFeatureAggregator expects x [N, C, T, P] = "
                f"[N, {self.in_channels}, T, {self.parts}], got shape {tuple(x.shape)}"
            )
        n, _, t, _ = x.shape
        x = x.permute(0, 3, 1, 2).contiguous()  # [N, P, C, T]
        padding = None
        if lengths is not None:
            valid = valid_frames(lengths, n, t, x.device, "TemporalFeatureAggregator")
            padding = ~valid[:, None, None, :]  # [N, 1, 1, T]
            x = x.masked_fill(padding, 0.0)
        motion = self._micro_motion(x, padding, self.conv1d3x1, 3) + self._micro_motion(
            x, padding, self.conv1d3x3, 5
        )
        if padding is not None:
            motion = motion.masked_fill(padding, float("-inf"))
        return motion.amax(dim=3).transpose(1, 2)

    @staticmethod
    def _micro_motion(
        x: torch.Tensor, padding: torch.Tensor | None, attention: nn.Sequential, window: int
    ) -> torch.Tensor:
        """Template times attention for `x [N, P, C, T]` (padding frames zero) -> `[N, P, C, T]`;
        `padding [N, 1, 1, T]` (True for padding frames) or None."""
        hidden = attention[1](attention[0](x))
        if padding is not None:
            hidden = hidden.masked_fill(padding, 0.0)
        scores = torch.sigmoid(attention[2](hidden))
        peaks = x if padding is None else x.masked_fill(padding, float("-inf"))
        flat, flat_peaks = x.flatten(1, 2), peaks.flatten(1, 2)  # [N, P * C, T]
        template = F.avg_pool1d(flat, window, 1, window // 2) + F.max_pool1d(
            flat_peaks, window, 1, window // 2
        )
        template = template.view_as(x)
        if padding is not None:  # a window of padding frames only has max -inf
            template = template.masked_fill(padding, 0.0)
        return template * scores


class GaitPartHead(nn.Module):
    """GaitPart's head: per-frame horizontal pooling -> temporal aggregator -> part-wise FCs ->
    BNNeck.

    `forward(feature_maps [N, C, T, H, W], lengths [N] | None)` returns a dict like `GaitHead`'s:
    `embeddings [N, D, P]` (the part FC output: OpenGait's GaitPart embedding, for triplet
    losses and evaluation), `bn_embeddings [N, D, P]` and `logits [N, K, P]` (cosine
    similarities; the BNNeck is a gaitwave addition, absent from OpenGait's GaitPart, so that
    every loss config works). Each frame is pooled into `P = sum(bins)` parts (mean + max per
    strip), the `TemporalFeatureAggregator` turns the `[N, C, T, P]` part sequences into
    `[N, C, P]` (`lengths` masks the padding frames), then `PartFC` maps C -> D per part.

    OpenGait names: `Head.fc_bin` -> `part_fc.weight`; `TFA.pooling_func.*` -> `tfa.*` (see
    `TemporalFeatureAggregator`); `HPP` has no parameters. CASIA-B: `embed_dim=128, bins=(16,)`.
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int = 128,
        bins: Sequence[int] = (16,),
        num_classes: int = 74,
        squeeze: int = 4,
    ) -> None:
        super().__init__()
        self.pooling = HorizontalPooling(bins)
        parts = self.pooling.parts
        self.in_channels = in_channels
        self.tfa = TemporalFeatureAggregator(in_channels, parts, squeeze)
        self.part_fc = PartFC(in_channels, embed_dim, parts)
        self.bnneck = BNNeck(embed_dim, parts, num_classes)

    def forward(
        self, feature_maps: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        check_feature_maps("GaitPartHead", feature_maps, self.in_channels)
        n, c, t, h, w = feature_maps.shape
        frames = feature_maps.transpose(1, 2).reshape(n * t, c, h, w)
        parts = self.pooling(frames).view(n, t, c, -1).transpose(1, 2)  # [N, C, T, P]
        embeddings = self.part_fc(self.tfa(parts, lengths))
        bn_embeddings, logits = self.bnneck(embeddings)
        return {"embeddings": embeddings, "bn_embeddings": bn_embeddings, "logits": logits}
