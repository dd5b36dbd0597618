"""GaitProtocolMetric: batches in any order, repeated rows, and 2 processes equal one evaluate()."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from gaitwave.evaluation import GaitProtocolMetric, evaluate

CASIAB_TYPES = ("nm-01", "nm-02", "nm-05", "bg-01", "cl-01")
VIEWS = ("000", "090", "180")


def casiab_like(num_ids: int = 5) -> tuple[torch.Tensor, list[str], list[str], list[str]]:
    """Rows id x type x view: 75 (odd) for 5 ids."""
    rows = [(f"{i:03d}", t, v) for i in range(num_ids) for t in CASIAB_TYPES for v in VIEWS]
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(num_ids, 8, 2, generator=generator)
    emb = torch.stack([centres[int(i)] for i, _, _ in rows])
    emb = emb + 0.8 * torch.randn(emb.shape, generator=generator)
    ids, types, views = ([row[k] for row in rows] for k in range(3))
    return emb, ids, types, views


def gait3d_like() -> tuple[torch.Tensor, list[str], list[bool]]:
    """31 rows (odd), 1-D ids cycling over 6 names, every third row a probe."""
    generator = torch.Generator().manual_seed(1)
    emb = torch.randn(31, 4, 3, generator=generator)
    ids = [f"p{i % 6}" for i in range(31)]
    mask = [i % 3 == 0 for i in range(31)]
    return emb, ids, mask


def test_shuffled_batches_with_repeated_rows_equal_evaluate() -> None:
    emb, ids, types, views = casiab_like()
    expected = evaluate(emb, ids, types, views, protocol="casiab")
    metric = GaitProtocolMetric(ids, types, views, protocol="casiab")
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(2))
    order = torch.cat([order, order[:7]])  # rows seen twice, as a padded sampler does
    for batch in order.split(10):
        metric.update(emb[batch], batch)
    assert metric.compute() == expected
    assert expected["mean/rank1"] > 0


def test_retrieval_protocol_with_probe_mask() -> None:
    emb, ids, mask = gait3d_like()
    expected = evaluate(emb, ids, protocol="gait3d", probe_mask=mask)
    metric = GaitProtocolMetric(ids, protocol="gait3d", probe_mask=mask)
    for batch in torch.arange(len(ids)).flip(0).split(4):
        metric.update(emb[batch], batch)
    assert metric.compute() == expected


def test_errors() -> None:
    emb, ids, types, views = casiab_like()
    with pytest.raises(ValueError, match=r"75 ids but \{'types': 3\}"):
        GaitProtocolMetric(ids, types[:3], views)
    metric = GaitProtocolMetric(ids, types, views)
    with pytest.raises(ValueError, match="call update"):
        metric.compute()
    with pytest.raises(ValueError, match=r"emb must be \[n, C, P\]"):
        metric.update(emb[:, :, 0], torch.arange(75))
    with pytest.raises(ValueError, match="rows must be 2 integer row indices"):
        metric.update(emb[:2], torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"row indices must be in \[0, 75\)"):
        metric.update(emb[:2], torch.tensor([0, 75]))


def test_labels_the_protocol_cannot_serve_fail_at_construction() -> None:
    ids = gait3d_like()[1]
    with pytest.raises(ValueError, match="needs probe_mask"):
        GaitProtocolMetric(ids, protocol="gait3d")
    with pytest.raises(ValueError, match="needs types and views"):
        GaitProtocolMetric(ids, protocol="casiab")


def test_gathered_is_one_copy_of_each_row_in_dataset_order() -> None:
    emb, ids, types, views = casiab_like()
    metric = GaitProtocolMetric(ids, types, views)
    for batch in (torch.tensor([9, 3, 9]), torch.tensor([0, 3, 4])):
        metric.update(emb[batch], batch)
    split = metric.gathered()
    assert torch.equal(split.emb, emb[[0, 3, 4, 9]])
    assert split.labels.ids == [ids[i] for i in (0, 3, 4, 9)]
    assert split.labels.views == [views[i] for i in (0, 3, 4, 9)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_rank(rank: int, world_size: int, port: int, out_dir: str) -> None:
    """One process: its DistributedSampler share, in batches of 4, then compute()."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        results = {}
        emb, ids, types, views = casiab_like()
        metric = GaitProtocolMetric(ids, types, views, protocol="casiab")
        emb3d, ids3d, mask = gait3d_like()
        retrieval = GaitProtocolMetric(ids3d, protocol="gait3d", probe_mask=mask)
        for name, (m, data) in {"casiab": (metric, emb), "gait3d": (retrieval, emb3d)}.items():
            sampler = DistributedSampler(range(data.shape[0]), shuffle=True, seed=3)
            rows = torch.tensor(list(sampler))
            for batch in rows.split(4):
                m.update(data[batch], batch)
            results[name] = m.compute()
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one(tmp_path: Path) -> None:
    """2 gloo processes (about 11 s); 75 and 31 rows are odd, so the sampler repeats a row."""
    mp.spawn(_run_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    emb, ids, types, views = casiab_like()
    emb3d, ids3d, mask = gait3d_like()
    expected = {
        "casiab": evaluate(emb, ids, types, views, protocol="casiab"),
        "gait3d": evaluate(emb3d, ids3d, protocol="gait3d", probe_mask=mask),
    }
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == expected
