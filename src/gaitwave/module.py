"""GaitModule: the LightningModule that composes backbone, head and the loss terms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from gaitwave.evaluation import EvalSplit, Evaluation, GaitProtocolMetric, get_protocol
from gaitwave.evaluation.parts import evaluate_parts
from gaitwave.evaluation.protocols import ProtocolLike
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


class GaitModule(L.LightningModule):
    """Backbone + head + loss terms, trained by steps, evaluated under a protocol.

    Args:
        backbone: frames `[N, T, H, W]` -> feature maps `[N, C, T', H', W']`.
        head: feature maps (+ lengths) -> dict with `embeddings [N, C, P]`, `logits [N, K, P]`.
        terms: named loss terms, summed into `train/loss`.
        optimizer: partial taking the parameters (from Hydra, `_partial_: true`).
        scheduler: partial taking the optimiser, stepped every training step, or None.
        protocol: evaluation protocol for validation and test: a name (`casiab`), a config
            mapping (`data.protocol`) or a `Protocol`; parsed here, so a bad protocol fails
            before training.
        metric: distance for evaluation, `euc` or `cos`.
        eval_feature: which model output is evaluated (`embeddings` or `bn_embeddings`).
        eval_per_part: the test evaluation also evaluates each part alone
            (`Evaluation.per_part`, `gaitwave.evaluation.parts`).
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
        protocol: ProtocolLike = "casiab",
        metric: str = "euc",
        eval_feature: str = "embeddings",
        eval_per_part: bool = False,
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
        self.protocol = get_protocol(protocol)
        self.metric = metric
        self.eval_feature = eval_feature
        self.eval_per_part = eval_per_part
        self.config = config
        self.num_classes = num_classes
        # Gathers the evaluated embeddings of the test split (built in `setup`).
        self.protocol_metric: GaitProtocolMetric | None = None
        # After `trainer.test`: the protocol's evaluation and, with `keep_test_split`, the
        # gathered split itself (embeddings in test-record order with their labels).
        self.test_evaluation: Evaluation | None = None
        self.test_split: EvalSplit | None = None
        self.keep_test_split = False
        # The last training step's loss terms, detached (read by callbacks.NonFiniteGuard).
        self.step_losses: dict[str, Tensor] = {}

    def forward(self, frames: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        """frames `[N, T, H, W]` in [0, 1], lengths `[N]` -> model outputs (see `GaitModel`)."""
        return self.model(frames, lengths)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        frames, labels = batch
        outputs, labels = self._global_batch(self(frames), labels)
        losses = {name: term(outputs, labels) for name, term in self.terms.items()}
        loss = torch.stack(list(losses.values())).sum()
        # The step's terms, for NonFiniteGuard (which skips a step with a non-finite one); only
        # finite values are logged, so a NaN never reaches metrics.csv or W&B.
        self.step_losses = {name: value.detach() for name, value in losses.items()}
        logged = {"loss": loss, **losses}
        finite = torch.stack([torch.isfinite(value) for value in logged.values()]).tolist()
        for (name, value), ok in zip(logged.items(), finite, strict=True):
            if ok:
                self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=labels.numel())
        return loss

    def _global_batch(
        self, outputs: dict[str, Tensor], labels: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Under DDP, the whole P x K batch on every rank (docs/MATH.md, section 1: every rank
        computes the same part losses F, weights and m). Gradients flow back to each rank's own
        samples; with DDP's gradient averaging the update equals the single-process one."""
        if self.trainer.world_size == 1:
            return outputs, labels
        gathered = {
            k: self.all_gather(v, sync_grads=True).flatten(0, 1) for k, v in outputs.items()
        }
        return gathered, self.all_gather(labels).flatten(0, 1)

    # ---- evaluation: one GaitProtocolMetric gathers the test split, then the protocol runs ----

    def setup(self, stage: str) -> None:
        """Build the metric from the datamodule's test split (each record's id, type and view,
        and the PROBE_SET mask): a protocol those labels cannot serve fails here, before
        training. Validation runs the test protocol on the same split."""
        datamodule = self.trainer.datamodule
        if datamodule is None:
            return  # validation and test need a datamodule (see `_update_metric`)
        records = datamodule.test_records
        self.protocol_metric = GaitProtocolMetric(
            [record.id for record in records],
            [record.type for record in records],
            [record.view for record in records],
            self.protocol,
            datamodule.test_probe_mask,
            self.metric,
        )

    def _update_metric(self, batch: Mapping[str, Tensor]) -> None:
        if self.protocol_metric is None:
            raise ValueError(
                "GaitModule evaluates the test split of a datamodule (its `test_records` and "
                "`test_probe_mask`): pass `datamodule=` to trainer.fit / validate / test"
            )
        outputs = self(batch["frames"], batch["lengths"])
        self.protocol_metric.update(outputs[self.eval_feature].float(), batch["index"])

    def _evaluate(self) -> tuple[EvalSplit, Evaluation]:
        """The gathered split (every rank's rows, in test-record order) and its evaluation."""
        split = self.protocol_metric.gathered()
        self.protocol_metric.reset()
        return split, self.protocol.evaluate(split, self.metric)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._update_metric(batch)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self.protocol_metric.reset()
            return
        _, evaluation = self._evaluate()
        self.log_dict({f"val/{k}": v for k, v in evaluation.metrics.items()})

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._update_metric(batch)

    def on_test_epoch_end(self) -> None:
        split, self.test_evaluation = self._evaluate()
        if self.eval_per_part:
            self.test_evaluation.per_part = evaluate_parts(self.protocol, split, self.metric)
        self.log_dict({f"test/{k}": v for k, v in self.test_evaluation.metrics.items()})
        self.test_split = split if self.keep_test_split else None

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
