"""GaitModel end to end: variable-length batches, gradients, autocast."""

import pytest
import torch
import torch.nn.functional as F

from gaitwave.models import GaitBase, GaitHead, GaitModel


def small_model(**head_options) -> GaitModel:
    return GaitModel(GaitBase(), GaitHead(128, embed_dim=32, num_classes=10, **head_options))


def silhouettes(*shape: int) -> torch.Tensor:
    return (torch.rand(*shape) > 0.6).float()


@pytest.mark.parametrize(("height", "width"), [(32, 22), (64, 44)])
def test_padded_batch_equals_one_sequence_at_a_time(height, width):
    torch.manual_seed(0)
    model = small_model()
    with torch.no_grad():  # a few training batches so BatchNorm running stats are not trivial
        for _ in range(3):
            model(silhouettes(4, 5, height, width))
    model.eval()
    lengths = torch.tensor([7, 3, 5, 1])
    sequences = [silhouettes(length, height, width) for length in lengths.tolist()]
    batch = torch.zeros(4, 7, height, width)
    for n, sequence in enumerate(sequences):
        batch[n, : len(sequence)] = sequence
    with torch.no_grad():
        batched = model(batch, lengths)
        unmasked = model(batch)
        for n, sequence in enumerate(sequences):
            single = model(sequence[None])
            for key, value in single.items():
                torch.testing.assert_close(batched[key][n : n + 1], value, atol=1e-5, rtol=1e-5)
    # the zero padding does change the result when the lengths are not given
    assert not torch.allclose(unmasked["embeddings"], batched["embeddings"], atol=1e-3)


@pytest.mark.parametrize("pooling", ["hpp", "gem"])
def test_gradient_reaches_every_parameter(pooling):
    torch.manual_seed(0)
    model = small_model(pooling=pooling)
    out = model(silhouettes(6, 4, 32, 22), torch.tensor([4, 4, 3, 2, 4, 1]))
    labels = torch.arange(6) % 3
    loss = (
        F.cross_entropy(16 * out["logits"], labels[:, None].expand(6, 16))
        + out["embeddings"].square().mean()
    )
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_bf16_autocast_training_step():
    model = small_model(pooling="hpp").to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(silhouettes(4, 3, 32, 22))
    assert out["embeddings"].dtype == torch.bfloat16
    assert out["logits"].dtype == torch.float32
    assert out["logits"].abs().max() <= 1 + 1e-6
    out["logits"].sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mismatched_backbone_and_head():
    with pytest.raises(ValueError, match="in_channels=64"):
        GaitModel(GaitBase(), GaitHead(64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu_and_runs_bf16():
    torch.manual_seed(0)
    model = small_model().eval()
    frames = silhouettes(3, 6, 64, 44)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        expected = model(frames, lengths)
        model.cuda()
        out = model(frames.cuda(), lengths.cuda())
        for key, value in expected.items():
            torch.testing.assert_close(out[key].cpu(), value, atol=1e-3, rtol=1e-3)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            half = model(frames.cuda(), lengths.cuda())
    assert half["logits"].dtype == torch.float32
    assert half["logits"].abs().max() <= 1 + 1e-6
