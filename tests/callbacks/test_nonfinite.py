"""NonFiniteGuard: non-finite steps are skipped (weights and optimiser state untouched), counted
and logged; a run of them stops training with a named error; NaN features never give metrics."""

from __future__ import annotations

import copy
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gaitwave.build import build_callbacks
from gaitwave.callbacks import NonFiniteGuard, NonFiniteLossError
from gaitwave.evaluation import GaitProtocolMetric
from gaitwave.evaluation.metric import NonFiniteFeaturesError
from gaitwave.losses import TripletLoss
from gaitwave.run_status import RunStatus, read_status
from gaitwave.train import train

OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=0.01, weight_decay=5e-4),
    "sgd_momentum": lambda params: torch.optim.SGD(
        params, lr=0.05, momentum=0.9, weight_decay=5e-4
    ),
}


class TinyModule(pl.LightningModule):
    """A linear map with two loss terms, `mse` and `l1`: on `nan_steps` the `l1` term is NaN;
    on `inf_grad_steps` the loss stays finite but the gradient of `net.weight` is inf."""

    def __init__(
        self,
        optimizer: str = "adam",
        nan_steps: set[int] = frozenset(),
        inf_grad_steps: set[int] = frozenset(),
    ) -> None:
        super().__init__()
        self.net = nn.Linear(4, 3)
        self.optimizer = optimizer
        self.nan_steps = nan_steps
        self.inf_grad_steps = inf_grad_steps
        self.net.weight.register_hook(self._inf_grad)

    def _inf_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return torch.full_like(grad, math.inf) if self.global_step in self.inf_grad_steps else grad

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        out = self.net(inputs)
        mse = ((out - targets) ** 2).mean()
        l1 = (out - targets).abs().mean()
        if self.global_step in self.nan_steps:
            l1 = l1 * math.nan
        self.step_losses = {"mse": mse.detach(), "l1": l1.detach()}
        return mse + l1

    def configure_optimizers(self):
        return OPTIMIZERS[self.optimizer](self.parameters())

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(64, 4, generator=gen), torch.randn(64, 3, generator=gen))
        return DataLoader(data, batch_size=4)


class Snapshots(pl.Callback):
    """Weights and optimiser state before and after each training step, by step."""

    def __init__(self) -> None:
        self.before: dict[int, tuple[dict, dict]] = {}
        self.after: dict[int, tuple[dict, dict]] = {}

    @staticmethod
    def take(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[dict, dict]:
        weights = {name: p.detach().clone() for name, p in pl_module.named_parameters()}
        return weights, copy.deepcopy(trainer.optimizers[0].state_dict()["state"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.before[trainer.global_step] = self.take(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after[trainer.global_step - 1] = self.take(trainer, pl_module)


def same(a, b) -> bool:
    """Equal nested dicts / lists of tensors and numbers, bit for bit."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def logged_totals(logger) -> list[float]:
    return [m["train/nonfinite_steps"] for _, m in logger.history if "train/nonfinite_steps" in m]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_skipped_step_leaves_weights_and_optimizer_state_untouched(
    tmp_path: Path, optimizer: str, memory_logger, make_trainer
) -> None:
    model, snapshots, logger = TinyModule(optimizer, nan_steps={3}), Snapshots(), memory_logger()
    guard = NonFiniteGuard(max_consecutive=2)
    make_trainer(tmp_path, [guard, snapshots], max_steps=6, logger=logger).fit(model)

    assert same(snapshots.before[3], snapshots.after[3])  # weights and state, bit for bit
    assert snapshots.after[3][1]  # the optimiser had state (moments / momentum) to keep
    for step in (2, 4):  # the finite steps around it do move both
        assert not same(snapshots.before[step][0], snapshots.after[step][0])
        assert not same(snapshots.before[step][1], snapshots.after[step][1])
    assert guard.total == 1 and guard.last_good_step == 5
    assert logged_totals(logger) == [0, 0, 0, 1, 1, 1]


def test_consecutive_nonfinite_steps_stop_training_naming_the_term_and_last_good_step(
    tmp_path: Path, make_trainer
) -> None:
    model, snapshots = TinyModule(nan_steps={3, 4, 5}), Snapshots()
    trainer = make_trainer(tmp_path, [NonFiniteGuard(max_consecutive=3), snapshots], max_steps=20)
    with pytest.raises(NonFiniteLossError) as raised:
        trainer.fit(model)
    message = str(raised.value)
    assert "3 consecutive training steps (3..5)" in message
    assert "loss term 'l1'" in message and "'mse'" not in message
    assert "last good step: 2" in message
    assert "optimizer.lr" in message and "callbacks.nonfinite_guard.max_consecutive" in message
    # the weights left are those after the last good step
    weights = {name: p.detach() for name, p in model.named_parameters()}
    assert same(weights, snapshots.after[2][0])


def test_isolated_nonfinite_steps_never_stop_training(
    tmp_path: Path, memory_logger, make_trainer
) -> None:
    model, logger, guard = TinyModule(nan_steps={1, 3, 5, 7}), memory_logger(), NonFiniteGuard(2)
    trainer = make_trainer(tmp_path, [guard], max_steps=10, logger=logger)
    trainer.fit(model)
    assert trainer.global_step == 10
    assert guard.total == 4 and guard.last_good_step == 9
    assert logged_totals(logger) == [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]


def test_a_nonfinite_gradient_with_a_finite_loss_is_skipped_and_named(
    tmp_path: Path, make_trainer
) -> None:
    model, snapshots = TinyModule(inf_grad_steps={2, 4, 5}), Snapshots()
    trainer = make_trainer(tmp_path, [NonFiniteGuard(max_consecutive=2), snapshots], max_steps=20)
    with pytest.raises(NonFiniteLossError) as raised:
        trainer.fit(model)
    assert same(snapshots.before[2], snapshots.after[2])
    message = str(raised.value)
    assert "(4..5)" in message and "gradients of net.weight" in message
    assert "loss term" not in message and "last good step: 3" in message


def test_under_fp16_the_grad_scaler_handles_overflowing_gradients(
    tmp_path: Path, make_trainer
) -> None:
    """The scaler skips steps whose gradients overflow and lowers its scale: not the guard's
    business, so a run of them does not stop training."""
    model, guard = TinyModule(inf_grad_steps={1, 2, 3}), NonFiniteGuard(max_consecutive=2)
    scaler = torch.amp.GradScaler("cpu")
    plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    make_trainer(tmp_path, [guard], max_steps=6, plugins=[plugin]).fit(model)
    assert guard.total == 0
    assert scaler.get_scale() < 65536.0  # the scaler saw the overflows and backed off


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint")
def test_the_counts_continue_after_resume(tmp_path: Path, make_trainer) -> None:
    trainer = make_trainer(tmp_path, [NonFiniteGuard(2)], max_steps=4)
    trainer.fit(TinyModule(nan_steps={1, 3}))
    checkpoint = tmp_path / "step4.ckpt"
    trainer.save_checkpoint(checkpoint)

    # step 3 was skipped before the stop: with step 4 after the resume, two in a row
    resumed = make_trainer(tmp_path, [NonFiniteGuard(2)], max_steps=8)
    with pytest.raises(NonFiniteLossError, match=r"\(3\.\.4\).*last good step: 2 \(3 steps"):
        resumed.fit(TinyModule(nan_steps={4}), ckpt_path=checkpoint)


DDP_SCRIPT = """
import json, math, torch, lightning.pytorch as pl
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from gaitwave.callbacks import NonFiniteGuard

# At step 2 the loss is NaN on rank 0 alone, through a constant: the gradients (averaged over
# the ranks) stay finite, so rank 1 sees nothing wrong itself.
class Rank0NaN(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net, self.weights = nn.Linear(4, 3), {}
    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = ((self.net(inputs) - targets) ** 2).mean()
        if self.global_step == 2 and self.global_rank == 0:
            loss = loss + math.nan
        self.step_losses = {"mse": loss.detach()}
        return loss
    def on_train_batch_start(self, batch, batch_idx):
        self.weights[self.global_step] = self.net.weight.detach().clone()
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)
    def train_dataloader(self):
        gen = torch.Generator().manual_seed(self.global_rank)
        data = TensorDataset(torch.randn(32, 4, generator=gen), torch.randn(32, 3, generator=gen))
        return DataLoader(data, batch_size=4)

guard, model = NonFiniteGuard(3), Rank0NaN()
trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=5, logger=False,
    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    callbacks=[guard])
trainer.fit(model)
result = {"total": guard.total, "kept": torch.equal(model.weights[2], model.weights[3]),
          "weights": model.net.weight.tolist()}
with open(f"rank{trainer.global_rank}.json", "w") as f:
    json.dump(result, f)
"""


def test_under_ddp_every_process_skips_a_step_one_process_found_nonfinite(
    tmp_path: Path,
) -> None:
    """Two CPU processes (gloo) in a subprocess: Lightning's DDP launcher re-runs the script."""
    script = tmp_path / "ddp_nonfinite.py"
    script.write_text(DDP_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert all(rank["total"] == 1 and rank["kept"] for rank in ranks)
    assert ranks[0]["weights"] == ranks[1]["weights"]  # the processes did not drift apart


@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_max_consecutive_must_be_a_positive_integer(value) -> None:
    with pytest.raises(
        (TypeError, ValueError), match=r"callbacks\.nonfinite_guard\.max_consecutive"
    ):
        NonFiniteGuard(value)


def test_the_default_callbacks_include_the_guard(tmp_path: Path, compose_config) -> None:
    callbacks = build_callbacks(compose_config("train", f"paths.output_dir={tmp_path}"))
    guards = [c for c in callbacks if isinstance(c, NonFiniteGuard)]
    assert len(guards) == 1 and guards[0].max_consecutive == 5


def test_the_protocol_metric_refuses_nonfinite_embeddings() -> None:
    ids = [f"{i:03d}" for i in range(4) for _ in range(6)]
    types = ["nm-01", "nm-02", "nm-05", "nm-06", "bg-01", "cl-01"] * 4
    views = ["090"] * 24
    emb = torch.randn(24, 8, 2, generator=torch.Generator().manual_seed(0))
    metric = GaitProtocolMetric(ids, types, views, protocol="casiab")
    metric.update(emb, torch.arange(24))
    assert all(math.isfinite(value) for value in metric.compute().values())

    emb[5, 0, 1] = math.nan
    emb[17, 3, 0] = math.inf
    metric.reset()
    metric.update(emb, torch.arange(24))
    with pytest.raises(NonFiniteFeaturesError, match=r"2 of 24 evaluated embeddings.*non-finite"):
        metric.compute()
    with pytest.raises(NonFiniteFeaturesError):
        metric.gathered()


# ---- the real GaitModule, through `train` and the run status as `gaitwave.train.main` does ----


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def nan_triplet_on(monkeypatch: pytest.MonkeyPatch, steps: set[int]) -> None:
    """The `triplet` term's part losses (and so its gradients) are NaN at the given steps (the
    triplet loss runs once per training step and never in evaluation)."""
    forward, calls = TripletLoss.forward, [0]

    def nan_on_steps(self: TripletLoss, *args, **kwargs) -> torch.Tensor:
        part_losses = forward(self, *args, **kwargs)
        step, calls[0] = calls[0], calls[0] + 1
        return part_losses * math.nan if step in steps else part_losses

    monkeypatch.setattr(TripletLoss, "forward", nan_on_steps)


def train_with_status(cfg) -> dict:
    """`train` with the run status written as `gaitwave.train.main` writes it."""
    out = Path(cfg.paths.output_dir)
    status = RunStatus(out)
    try:
        train(cfg)
    except BaseException as error:
        status.failed(error)
        raise
    status.completed()
    return read_status(out)


def tiny_gait_config(tiny_train_config, out: Path, data_dir: Path):
    return tiny_train_config(
        out,
        data_dir,
        "debug=tiny",
        "trainer.max_steps=12",
        "trainer.val_check_interval=6",
        "trainer.log_every_n_steps=1",
    )


def test_gait_module_skips_isolated_nan_steps_and_logs_no_nan(
    tmp_path: Path, data_dir: Path, tiny_train_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_triplet_on(monkeypatch, {2, 5})
    status = train_with_status(tiny_gait_config(tiny_train_config, tmp_path, data_dir))
    assert status["status"] == "completed"

    rows = logged_rows(tmp_path)
    counts = {
        int(r["step"]): float(r["train/nonfinite_steps"]) for r in rows if r.get("train/loss")
    }
    assert [counts[step] for step in range(12)] == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2]
    # a skipped step logs no loss (Lightning repeats a step metric's last value in its row):
    # every value written is finite
    for row in rows:
        assert all(math.isfinite(float(value)) for value in row.values() if value), row
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(math.isfinite(value) for value in metrics.values())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values())


def test_gait_module_stops_on_consecutive_nan_steps_with_a_failed_status(
    tmp_path: Path, data_dir: Path, tiny_train_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_triplet_on(monkeypatch, set(range(3, 100)))
    with pytest.raises(NonFiniteLossError):
        train_with_status(tiny_gait_config(tiny_train_config, tmp_path, data_dir))
    status = read_status(tmp_path)
    assert status["status"] == "failed"
    assert status["error"].startswith("NonFiniteLossError: 5 consecutive training steps (3..7)")
    assert "loss term 'triplet'" in status["error"] and "last good step: 2" in status["error"]
    assert (tmp_path / "traceback.txt").is_file()
    for row in logged_rows(tmp_path):
        assert all(math.isfinite(float(v)) for v in row.values() if v)


def logged_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))
