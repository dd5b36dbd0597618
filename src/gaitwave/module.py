"""GaitModule: the LightningModule that composes backbone, head and the loss terms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from gaitwave.evaluation import (
    RetrievalSpec,
    ViewMatrix,
    retrieval_metrics,
    summarize_view_matrices,
    view_matrices,
)
from gaitwave.evaluation.protocols import AnyProtocol, get_any_protocol
from gaitwave.models import GaitModel

MODEL_OUTPUTS = ("embeddings", "bn_embeddings", "logits")


class LossTerm(nn.Module):
    """One term of the objective: `weight * fusion(loss, outputs[input], labels)`.

    `input` names the model output the loss reads: `embeddings` `[N, C, P]` for metric losses,
    `logits` `[N, classes, P]` (cosine similarities) for the softmax family.
    """

    def __init__(
        self, loss: nn.Module, fusion: nn.Module, weight: float = 1.0, input: str = "embeddings"
    ) -> None:
        super().__init__()
        if input not in MODEL_OUTPUTS:
            raise ValueError(
                f"loss term input '{input}' is not a model output; use one of {MODEL_OUTPUTS}"
            )
        self.loss = loss
        self.fusion = fusion
        self.weight = float(weight)
        self.input = input

    def forward(self, outputs: Mapping[str, Tensor], labels: Tensor) -> Tensor:
        """Scalar loss of this term (fp32)."""
        return self.weight * self.fusion(self.loss, outputs[self.input], labels)


@dataclass
class EvalSplit:
    """The gathered test split in test-record order: embeddings and one label per row."""

    emb: Tensor  # [N, C, P] float32, CPU
    ids: list[str]
    types: list[str]
    views: list[str]
    rows: list[int]  # index of each row in the datamodule's `test_records`


class GaitModule(L.LightningModule):
    """Backbone + head + loss terms, trained by steps, evaluated under a protocol.

    Args:
        backbone: frames `[N, T, H, W]` -> feature maps `[N, C, T', H', W']`.
        head: feature maps (+ lengths) -> dict with `embeddings [N, C, P]`, `logits [N, K, P]`.
        terms: named loss terms, summed into `train/loss`.
        optimizer: partial taking the parameters (from Hydra, `_partial_: true`).
        scheduler: partial taking the optimiser, stepped every training step, or None.
        protocol: evaluation protocol for validation and test: a name (`casiab`), a config
            mapping (`conf/data/*.yaml`'s `protocol:` subtree) or a spec; parsed here, so a
            bad protocol fails before training.
        metric: distance for evaluation, `euc` or `cos`.
        eval_feature: which model output is evaluated (`embeddings` or `bn_embeddings`).
        config: the resolved run config, stored in checkpoints to rebuild the model.
        num_classes: training ids of the classifier, stored in checkpoints with the config.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        terms: Mapping[str, LossTerm],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        protocol: AnyProtocol = "casiab",
        metric: str = "euc",
        eval_feature: str = "embeddings",
        config: dict | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if not terms:
            raise ValueError("GaitModule needs at least one loss term (config group `loss`)")
        if eval_feature not in MODEL_OUTPUTS:
            raise ValueError(f"eval_feature '{eval_feature}' is not one of {MODEL_OUTPUTS}")
        self.model = GaitModel(backbone, head)
        self.terms = nn.ModuleDict(terms)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.protocol = get_any_protocol(protocol)
        self.metric = metric
        self.eval_feature = eval_feature
        self.config = config
        self.num_classes = num_classes
        self._eval_outputs: list[tuple[Tensor, Tensor]] = []
        # `test_results`: "metrics" (flat, percent), "matrices" (view protocols; None for
        # retrieval) and, when `keep_test_split` is set, "split" (the gathered EvalSplit).
        self.test_results: dict[str, Any] = {}
        self.keep_test_split = False

    def forward(self, frames: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """frames `[N, T, H, W]` in [0, 1], lengths `[N]` -> model outputs (see `GaitModel`)."""
        return self.model(frames, lengths)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        frames, labels = batch
        outputs, labels = self._global_batch(self(frames), labels)
        losses = {name: term(outputs, labels) for name, term in self.terms.items()}
        loss = torch.stack(list(losses.values())).sum()
        batch_size = labels.numel()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        for name, value in losses.items():
            self.log(f"train/{name}", value, batch_size=batch_size)
        return loss

    def _global_batch(
        self, outputs: dict[str, Tensor], labels: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Under DDP, the whole P x K batch on every rank (MATH.md: every rank computes the same
        part losses F, weights and m). Gradients flow back to each rank's own samples; with DDP's
        gradient averaging the update equals the single-process one."""
        if self.trainer.world_size == 1:
            return outputs, labels
        gathered = {
            k: self.all_gather(v, sync_grads=True).flatten(0, 1) for k, v in outputs.items()
        }
        return gathered, self.all_gather(labels).flatten(0, 1)

    # ---- evaluation: gather embeddings of the whole test split, then run the protocol ----

    def _collect(self, batch: Mapping[str, Tensor]) -> None:
        outputs = self(batch["frames"], batch["lengths"])
        features = outputs[self.eval_feature].float().cpu()
        self._eval_outputs.append((batch["index"].cpu(), features))

    def _gathered(self) -> EvalSplit:
        """The embeddings of the whole test split, every rank's rows, in test-record order."""
        index = torch.cat([i for i, _ in self._eval_outputs])
        features = torch.cat([f for _, f in self._eval_outputs])
        self._eval_outputs.clear()
        if self.trainer.world_size > 1:  # each rank embedded a disjoint share of the test split
            index, features = self._all_ranks_rows(index), self._all_ranks_rows(features)
        order = torch.argsort(index)
        rows = index[order].tolist()
        records = [self.trainer.datamodule.test_records[i] for i in rows]
        return EvalSplit(
            emb=features[order],
            ids=[r.id for r in records],
            types=[r.type for r in records],
            views=[r.view for r in records],
            rows=rows,
        )

    def _probe_mask(self, rows: list[int]) -> list[bool] | None:
        """Per row, whether it is a probe, for retrieval protocols without probe types."""
        spec = self.protocol
        if not isinstance(spec, RetrievalSpec) or spec.gallery_types is not None:
            return None  # view protocols and probes chosen by type need no mask
        datamodule = self.trainer.datamodule
        mask = getattr(datamodule, "test_probe_mask", None)
        if mask is None:
            raise ValueError(
                f"protocol {spec.name!r} takes its probes from the partition's PROBE_SET "
                f"(data.protocol.probe_types is null), but the datamodule "
                f"({type(datamodule).__name__}) has no test_probe_mask: add a PROBE_SET list to "
                "the partition file, or set data.protocol.probe_types and gallery_types"
            )
        if len(mask) != len(datamodule.test_records):
            raise ValueError(
                f"test_probe_mask has {len(mask)} entries but there are "
                f"{len(datamodule.test_records)} test records; it needs one bool per record"
            )
        return [bool(mask[row]) for row in rows]

    def evaluate_split(
        self, split: EvalSplit, probe_mask: list[bool] | None = None
    ) -> tuple[dict[str, float], dict[str, ViewMatrix] | None]:
        """Flat metrics (percent) of `split` under `self.protocol`, and the view matrices of a
        view protocol (None for a retrieval protocol)."""
        if isinstance(self.protocol, RetrievalSpec):
            metrics = retrieval_metrics(
                split.emb, split.ids, split.types, self.protocol, probe_mask, self.metric
            )
            return metrics, None
        matrices = view_matrices(
            split.emb, split.ids, split.types, split.views, self.protocol, self.metric
        )
        return summarize_view_matrices(matrices, self.protocol), matrices

    def _all_ranks_rows(self, rows: Tensor) -> Tensor:
        """Concatenate every rank's `rows [n_r, ...]` (n_r may differ between ranks)."""
        counts = self.all_gather(torch.tensor(rows.shape[0], device=self.device)).tolist()
        padded = rows.new_zeros((max(counts), *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        gathered = self.all_gather(padded.to(self.device)).cpu()
        return torch.cat([part[:count] for part, count in zip(gathered, counts, strict=True)])

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._eval_outputs.clear()
            return
        split = self._gathered()
        metrics, _ = self.evaluate_split(split, self._probe_mask(split.rows))
        self.log_dict({f"val/{k}": v for k, v in metrics.items()})

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._collect(batch)

    def on_test_epoch_end(self) -> None:
        split = self._gathered()
        metrics, matrices = self.evaluate_split(split, self._probe_mask(split.rows))
        self.log_dict({f"test/{k}": v for k, v in metrics.items()})
        self.test_results = {"metrics": metrics, "matrices": matrices}
        if self.keep_test_split:
            self.test_results["split"] = split

    # ---- optimisation ----

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the resolved run config so `gaitwave-eval` can rebuild the model."""
        if self.config is not None:
            checkpoint["gaitwave_config"] = self.config
            checkpoint["gaitwave_num_classes"] = self.num_classes
