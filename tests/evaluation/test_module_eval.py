"""The module gathers the test split through its GaitProtocolMetric and evaluates retrieval
protocols; retrieval reports; gaitwave-eval writes GREW CSVs."""

import csv
import json
import pickle
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader

from gaitwave.build import build_module
from gaitwave.eval import run_evaluation
from gaitwave.evaluation import PROTOCOLS, evaluate
from gaitwave.evaluation.base import Evaluation
from gaitwave.fusion import PostFusion
from gaitwave.losses import TripletLoss
from gaitwave.module import GaitModule, LossTerm


class FirstPixel(nn.Module):
    """A 'backbone' whose feature maps are the frames: `[N, T, H, W]` -> `[N, 1, T, H, W]`."""

    out_channels = 1

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return frames.unsqueeze(1)

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return lengths


class FirstPixelHead(nn.Module):
    """Embeddings `[N, 1, 1]`: the first pixel of the first frame."""

    in_channels = 1

    def forward(self, maps: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        return {"embeddings": maps[:, :, 0, 0, :1]}


class RecordsDataModule(L.LightningDataModule):
    """Test batches of one-pixel 'sequences' in a shuffled order, with records and a probe mask
    (None: the partition has no PROBE_SET)."""

    def __init__(self, values: list[float], ids: list[str], mask: list[bool] | None) -> None:
        super().__init__()
        self.test_records = [SimpleNamespace(id=i, type="seq", view="cam") for i in ids]
        self.test_probe_mask = mask
        self.values = values

    def test_dataloader(self) -> DataLoader:
        order = torch.randperm(len(self.values), generator=torch.Generator().manual_seed(0))
        items = [
            {
                "frames": torch.full((2, 1, 1), self.values[i]),
                "lengths": torch.tensor(2),
                "index": torch.tensor(int(i)),
            }
            for i in order
        ]
        return DataLoader(items, batch_size=4)


def gait3d_case() -> tuple[list[float], list[str], list[bool]]:
    """Hand-built (as in test_more_protocols): probe x = 0 has true matches at ranks 1 and 10,
    w has no true match (skipped), o5 = 5.9 ranks o6 first and o5 second."""
    gallery = [("x", 0.5)] + [(f"o{i}", float(i)) for i in range(1, 9)] + [("x", 20.0)]
    probes = [("x", 0.0), ("w", 50.0), ("o5", 5.9)]
    rows = probes[:1] + gallery[:5] + probes[1:2] + gallery[5:] + probes[2:]
    mask = [(name, value) in probes for name, value in rows]
    return [value for _, value in rows], [name for name, _ in rows], mask


def first_pixel_module(protocol) -> GaitModule:
    term = LossTerm(TripletLoss(), PostFusion())
    return GaitModule(
        FirstPixel(),
        FirstPixelHead(),
        {"triplet": term},
        partial(torch.optim.SGD, lr=0.1),
        protocol=protocol,
    )


def run_test(module: GaitModule, datamodule: L.LightningDataModule) -> dict:
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return trainer.test(module, datamodule=datamodule, verbose=False)[0]


def test_gait3d_through_the_module_uses_the_datamodule_probe_mask() -> None:
    values, ids, mask = gait3d_case()
    module = first_pixel_module("gait3d")
    logged = run_test(module, RecordsDataModule(values, ids, mask))
    metrics = module.test_evaluation.metrics
    assert not module.test_evaluation.per_view and not module.test_evaluation.matrices
    assert metrics["rank1"] == 50.0
    assert metrics["mAP"] == pytest.approx(100 * (0.6 + 0.5) / 2)
    assert metrics["mINP"] == pytest.approx(100 * (0.2 + 0.5) / 2)
    assert metrics["num_skipped"] == 1
    assert logged["test/mINP"] == pytest.approx(metrics["mINP"])


def test_retrieval_protocol_by_types_from_a_config_mapping() -> None:
    values = [0.0, 10.0, 1.0, 8.0, 30.0]
    ids = ["a", "b", "a", "b", "a"]
    protocol = {"name": "proxy", "kind": "retrieval", "ks": [1, 2]}
    protocol |= {"probe_types": ["seq"], "gallery_types": ["seq"], "key_prefix": "p/"}
    module = first_pixel_module(protocol)
    run_test(module, RecordsDataModule(values, ids, mask=None))
    emb = torch.tensor(values).view(-1, 1, 1)
    expected = evaluate(emb, ids, ["seq"] * 5, protocol=module.protocol)
    assert module.test_evaluation.metrics == expected
    assert set(expected) >= {"p/rank1", "p/rank2", "p/mAP"}


def test_grouped_retrieval_protocol_needs_no_probe_mask() -> None:
    """A cross-view-gallery protocol (probe groups by type) runs without a PROBE_SET mask."""
    values = [0.0, 10.0, 1.0, 8.0, 30.0]
    ids = ["a", "b", "a", "b", "a"]
    protocol = {"name": "cv", "kind": "retrieval", "gallery_types": ["seq"]}
    protocol |= {"probe_groups": {"G": ["seq"]}}
    module = first_pixel_module(protocol)
    run_test(module, RecordsDataModule(values, ids, mask=None))
    emb = torch.tensor(values).view(-1, 1, 1)
    expected = evaluate(emb, ids, ["seq"] * 5, protocol=module.protocol)
    assert module.test_evaluation.metrics == expected
    assert {"G/rank1", "mean/rank1", "mean/mAP"} <= set(expected)


def test_probe_set_protocol_without_a_probe_mask_is_a_clear_error() -> None:
    """The module's metric is built at setup: the error comes before any embedding."""
    values, ids, _ = gait3d_case()
    with pytest.raises(ValueError, match=r"needs probe_mask.*Add a PROBE_SET list"):
        run_test(first_pixel_module("gait3d"), RecordsDataModule(values, ids, mask=None))


def test_retrieval_report_is_a_table_and_metrics_json(tmp_path: Path) -> None:
    metrics = {"rank1": 50.0, "rank5": 100.0, "mAP": 55.0, "num_valid": 2, "num_skipped": 1}
    console = Console(record=True, width=100)
    paths = PROTOCOLS["gait3d"].report(Evaluation(metrics), tmp_path, console=console)
    assert set(paths) == {"metrics"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    assert json.loads(paths["metrics"].read_text()) == metrics
    text = console.export_text()
    assert "gait3d: test metrics" in text and "rank5" in text and "100.00" in text


def write_grew_like(root: Path) -> None:
    """GREW's prepared layout, small: test ids with gallery types 01, 02 at two sequence folders,
    official probes as id `probe`, type `03`, view = the probe sequence name."""
    generator = np.random.default_rng(0)
    folders = [(f"t{i}", t, f"s{j}") for i in range(6) for t in ("01", "02") for j in range(2)]
    folders += [("probe", "03", name) for name in ("pa", "pb", "pc")]
    folders += [("r0", "01", "s0"), ("r1", "01", "s0")]
    for id_, type_, view in folders:
        frames = (generator.random((6, 64, 64)) > 0.6).astype(np.uint8) * 255
        folder = root / id_ / type_ / view
        folder.mkdir(parents=True)
        (folder / "sil.pkl").write_bytes(pickle.dumps(frames))
    test_ids = [f"t{i}" for i in range(6)] + ["probe"]
    partition = {"TRAIN_SET": ["r0", "r1"], "TEST_SET": test_ids}
    (root / "partition.json").write_text(json.dumps(partition))


def top20_reference(emb: torch.Tensor, ids, types, views) -> dict[str, list[str]]:
    """Per probe name, the ids of the 20 nearest gallery rows: a per-part cdist, stable sort."""
    gallery = [i for i, t in enumerate(types) if t in ("01", "02")]
    out = {}
    for row, type_ in enumerate(types):
        if type_ != "03":
            continue
        per_part = [
            torch.cdist(emb[row : row + 1, :, p].double(), emb[gallery, :, p].double())[0]
            for p in range(emb.shape[2])
        ]
        order = torch.sort(torch.stack(per_part).mean(0), stable=True).indices[:20]
        out[views[row]] = [ids[gallery[i]] for i in order]
    return out


def test_gaitwave_eval_writes_the_grew_submission(tmp_path: Path, compose_config) -> None:
    root = tmp_path / "grew"
    write_grew_like(root)
    train_cfg = compose_config(
        "train",
        f"paths.output_dir={tmp_path / 'train'}",
        f"data.datamodule.root={root}",
        "data.datamodule.views=null",
        "data.datamodule.num_workers=0",
    )
    train_cfg.data.protocol = "grew-proxy"
    torch.manual_seed(0)
    module = build_module(train_cfg, num_classes=2)
    checkpoint = {
        "gaitwave_config": module.config,
        "gaitwave_num_classes": 2,
        "state_dict": module.state_dict(),
    }
    torch.save(checkpoint, tmp_path / "model.ckpt")
    eval_cfg = compose_config(
        "eval",
        f"ckpt={tmp_path / 'model.ckpt'}",
        f"paths.output_dir={tmp_path / 'eval'}",
        "grew_submission=sub/submission.csv",
        "trainer.enable_progress_bar=false",
    )
    metrics, evaluated = run_evaluation(eval_cfg)
    assert evaluated.protocol == PROTOCOLS["grew-proxy"]
    assert "unofficial_proxy/rank20" in metrics

    with open(tmp_path / "eval" / "sub" / "submission.csv", newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["videoId"] + [f"rank{k}" for k in range(1, 21)]
    split = evaluated.test_split
    labels = split.labels
    expected = top20_reference(split.emb, labels.ids, labels.types, labels.views)
    assert {row[0]: row[1:] for row in table[1:]} == expected
    assert sorted(expected) == ["pa", "pb", "pc"]


def test_a_checkpoint_config_that_would_run_a_command_is_refused(
    tmp_path: Path, compose_config
) -> None:
    """gaitwave-eval builds what a checkpoint's config names: a `_target_` outside gaitwave,
    torch.optim and Lightning (here `os.system`) is refused before anything is built."""
    from gaitwave.eval import load_checkpoint

    train_cfg = compose_config("train", f"paths.output_dir={tmp_path}")
    module = build_module(train_cfg, num_classes=2)
    witness = tmp_path / "ran"
    config = dict(module.config)
    config["backbone"] = {"_target_": "os.system", "_args_": [f"touch {witness}"]}
    checkpoint = {"gaitwave_config": config, "gaitwave_num_classes": 2, "state_dict": {}}
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(ValueError, match=r"evil\.ckpt: backbone\._target_ = 'os\.system'"):
        load_checkpoint(tmp_path / "evil.ckpt")
    assert not witness.exists()
    config["backbone"] = module.config["backbone"]
    torch.save({**checkpoint, "gaitwave_config": config}, tmp_path / "good.ckpt")
    assert load_checkpoint(tmp_path / "good.ckpt")[1] == 2
