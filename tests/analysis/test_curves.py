"""The Figure 3/4 curves come from NormFusion through autograd and match docs/MATH.md."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from gaitwave.analysis.curves import EXPONENTS, VARIANTS, loss_curves, part_curve
from gaitwave.figures import main
from gaitwave.fusion import NormFusion

OTHERS = (1.0, 2.0, 3.0)
SAMPLE_P = np.array([0.02, 0.1, 0.37, 0.8, 1.0])


@pytest.fixture(scope="module")
def curves():
    return loss_curves(p=SAMPLE_P, other_losses=OTHERS)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("exponent", [-1.0, 1.0, 3.0])
def test_curve_equals_fusion_evaluated_directly(curves, variant, exponent) -> None:
    row = EXPONENTS.index(exponent)
    fusion = NormFusion(exponent=exponent, truncate=variant.truncate, normalize=variant.normalize)
    for k, p in enumerate(SAMPLE_P):
        part_losses = torch.tensor([-math.log(p), *OTHERS], dtype=torch.float64, requires_grad=True)
        value = fusion.reduce(part_losses)
        (grad_f,) = torch.autograd.grad(value, part_losses)
        assert curves.values[variant.name][row, k] == pytest.approx(value.item(), rel=1e-12)
        # chain rule: F_1 = -log p, so dL/dp = -(dL/dF_1) / p
        expected_grad = -grad_f[0].item() / p
        assert curves.grads[variant.name][row, k] == pytest.approx(expected_grad, rel=1e-9)


def test_normalised_value_is_mean_of_losses_for_every_exponent(curves) -> None:
    mean_f = (-np.log(SAMPLE_P) + sum(OTHERS)) / (len(OTHERS) + 1)
    for variant in VARIANTS:
        if variant.normalize:
            np.testing.assert_allclose(
                curves.values[variant.name], np.broadcast_to(mean_f, (len(EXPONENTS), 5))
            )
    # without normalisation the value moves with l: larger l, smaller weights, smaller loss
    unnormalised = curves.values["no_normalization"]
    assert np.all(np.diff(unnormalised, axis=0) < 0)


def test_exponent_zero_is_post_fusion_in_every_variant(curves) -> None:
    row = EXPONENTS.index(0.0)
    parts = len(OTHERS) + 1
    mean_f = (-np.log(SAMPLE_P) + sum(OTHERS)) / parts
    for variant in VARIANTS:
        np.testing.assert_allclose(curves.values[variant.name][row], mean_f, rtol=1e-12)
        np.testing.assert_allclose(
            curves.grads[variant.name][row], -1.0 / (parts * SAMPLE_P), rtol=1e-12
        )


@pytest.mark.parametrize(
    ("truncate", "normalize", "exponent", "value", "four_dl_df"),
    [  # docs/MATH.md sections 1 and 5, F = [1, 2, 3, 10], the dominant part's entry
        (True, True, 1.0, 4.0, 1.2371),
        (True, True, 3.0, 4.0, 1.4938),
        (False, True, 1.0, 4.0, 1.3115),
        (True, False, 1.0, 2.4959, 0.7719),
        (False, False, 3.0, 1.2316, 0.6016),
    ],
)
def test_gradient_wrt_p_at_the_golden_point(truncate, normalize, exponent, value, four_dl_df):
    p = math.exp(-10.0)
    values, grads = part_curve([p], exponent, OTHERS, truncate=truncate, normalize=normalize)
    assert values[0] == pytest.approx(value, abs=1e-4)
    # |dL/dp| = |dL/dF| / p with dL/dF = four_dl_df / 4; the table gives 4 decimals
    assert abs(grads[0]) * p == pytest.approx(four_dl_df / 4, abs=1e-4 / 4)
    assert grads[0] < 0  # the hard part: raising p lowers the loss


@pytest.mark.parametrize(
    ("normalize", "four_dl_df"), [(True, -0.4496), (False, -0.1384)]
)  # docs/MATH.md section 5, the easy part F = 1 of [1, 2, 3, 10] at l = 3
def test_without_truncation_easy_part_gets_negative_gradient(normalize, four_dl_df) -> None:
    p = math.exp(-1.0)
    _, grads = part_curve([p], 3.0, (2.0, 3.0, 10.0), truncate=False, normalize=normalize)
    # dL/dF < 0, so dL/dp = -(dL/dF) / p > 0: the loss drops when the easy part gets worse
    assert -grads[0] * p == pytest.approx(four_dl_df / 4, abs=1e-4 / 4)
    _, truncated = part_curve([p], 3.0, (2.0, 3.0, 10.0), truncate=True, normalize=normalize)
    assert truncated[0] < 0


def test_only_untruncated_gradient_changes_sign_along_the_curve() -> None:
    grid = loss_curves(p=np.linspace(0.01, 1.0, 100), exponents=(3.0,), other_losses=OTHERS)
    assert grid.grads["no_truncation"][0, 0] < 0 < grid.grads["no_truncation"][0, -1]
    assert np.all(grid.grads["waveloss"] < 0)
    assert np.all(grid.grads["no_normalization"] < 0)


@pytest.mark.parametrize("p", [[0.0], [1.5], [-0.2], []])
def test_p_outside_unit_interval_is_rejected(p) -> None:
    with pytest.raises(ValueError, match=r"p must lie in \(0, 1\]"):
        part_curve(p, 1.0)


def test_negative_other_losses_are_rejected() -> None:
    with pytest.raises(ValueError, match="other_losses"):
        part_curve([0.5], 1.0, (1.0, -2.0))


def test_cli_writes_figures_and_csv(tmp_path, capsys) -> None:
    main(["--out", str(tmp_path / "figures")])
    out = tmp_path / "figures"
    for name in ("figure3_value.png", "figure4_gradient.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "curves.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    default = loss_curves()
    assert len(rows) == len(VARIANTS) * len(EXPONENTS) * default.p.size
    assert {row["variant"] for row in rows} == {v.name for v in VARIANTS}
    first = rows[0]  # no_normalization, l = -1, the smallest p
    assert float(first["p"]) == pytest.approx(default.p[0])
    assert float(first["F"]) == pytest.approx(-math.log(default.p[0]))
    assert float(first["value"]) == pytest.approx(default.values["no_normalization"][0, 0])
    assert float(first["dL_dp"]) == pytest.approx(default.grads["no_normalization"][0, 0])
    assert "figure4_gradient.png" in capsys.readouterr().out
