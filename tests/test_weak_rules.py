"""Rules weak supervision allows: the slice-label threshold, the slice-separation selection criterion, the
calibration error of maps, and a discriminator that judges the paper's share of the image at every size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pathogan_bench.data.slices import HEALTHY, MINOR, PATHOLOGICAL
from pathogan_bench.engine.calibration_maps import fit_model_rule
from pathogan_bench.engine.selection import check_criterion, slice_scores
from pathogan_bench.errors import UserError
from pathogan_bench.registry import get_registry
from pathogan_bench_plugins.metrics import expected_calibration_error
from pathogan_bench_plugins.shared.networks import MultiScalePatchGAN, PatchGAN, patchgan_field, patchgan_layers
from pathogan_bench_plugins.threshold_policies import slice_label_threshold


def maps_with_lesions(seed: int = 0, n: int = 12, size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half healthy slices with background noise up to 0.3, half pathological with a 6 x 6 lesion of 0.4-0.9."""
    rng = np.random.default_rng(seed)
    prob = rng.random((n, size, size)) * 0.3
    domain = np.array([HEALTHY] * (n // 2) + [PATHOLOGICAL] * (n - n // 2), dtype=np.int8)
    for i in np.flatnonzero(domain == PATHOLOGICAL):
        prob[i, 10:16, 10:16] = rng.uniform(0.4, 0.9, (6, 6))
    return prob, np.ones_like(prob, dtype=bool), domain


def brute_force_balanced_accuracy(prob, brain, domain, t, m):
    flagged = ((prob >= t) & brain).reshape(len(prob), -1).sum(1) > m
    keep = domain != MINOR
    positive = domain[keep] == PATHOLOGICAL
    flagged = flagged[keep]
    return ((flagged & positive).sum() / positive.sum() + (~flagged & ~positive).sum() / (~positive).sum()) / 2


def test_the_slice_label_threshold_is_the_best_separating_one_and_lies_between_the_classes():
    prob, brain, domain = maps_with_lesions()
    t, balanced = slice_label_threshold(prob, brain, domain)
    assert balanced == 1.0 and 0.3 <= t <= 0.9
    m = max(1, round(20 / 240**2 * 32 * 32))
    grid = np.linspace(0, 1, 201)
    best = max(brute_force_balanced_accuracy(prob, brain, domain, g, m) for g in grid)
    assert brute_force_balanced_accuracy(prob, brain, domain, t, m) == pytest.approx(best)
    domain[0] = MINOR  # minor slices are neither class
    assert slice_label_threshold(prob, brain, domain)[1] == 1.0


def test_the_slice_label_threshold_is_nan_without_both_kinds_of_slices():
    prob, brain, domain = maps_with_lesions()
    assert all(math.isnan(v) for v in slice_label_threshold(prob, brain, np.full_like(domain, HEALTHY)))


def test_a_model_rule_sets_the_threshold_from_the_validation_slices():
    prob, brain, domain = maps_with_lesions()

    class Model:
        threshold = 0.5
        threshold_rule = "slice-labels"

    model = Model()
    arrays = {"prob": prob, "mask": prob > 0.35, "brain": brain, "domain": domain, "patients": "validation"}
    said = fit_model_rule(model, arrays, get_registry())
    assert model.threshold == pytest.approx(slice_label_threshold(prob, brain, domain)[0])
    assert said.startswith("slice-labels: the slice labels of the validation patients") and "threshold" in said
    arrays["domain"] = np.full_like(domain, PATHOLOGICAL)
    model.threshold = 0.5
    assert "stays 0.5" in fit_model_rule(model, arrays, get_registry()) and model.threshold == 0.5


def test_slice_scores_flag_a_slice_exactly_when_its_mask_exceeds_the_pathological_area():
    prob, brain, _ = maps_with_lesions()
    m = max(1, round(20 / 240**2 * 32 * 32))
    scores = slice_scores(prob, brain)
    for i, s in enumerate(scores):
        assert (prob[i] >= s).sum() > m and (prob[i] > s).sum() <= m


def test_the_slice_criterion_is_open_to_weak_models_and_dice_is_not():
    check_criterion("val-slices", "weak")
    check_criterion("val-slices", "healthy")
    with pytest.raises(UserError, match="pixel labels"):
        check_criterion("val-dice", "weak")


def test_expected_calibration_error():
    rng = np.random.default_rng(1)
    p = rng.random(200_000)
    calibrated = rng.random(200_000) < p
    assert expected_calibration_error(p, calibrated) < 0.01
    overconfident = np.full(1000, 0.95)
    ref = np.zeros(1000, dtype=bool)
    ref[:100] = True
    assert expected_calibration_error(overconfident, ref) == pytest.approx(0.85)
    valid = np.zeros(1000, dtype=bool)
    valid[:100] = True  # only the lesion pixels, predicted 0.95
    assert expected_calibration_error(overconfident, ref, valid) == pytest.approx(0.05)


def numeric_field(disc: torch.nn.Module, size: int = 96) -> int:
    """The input extent (px, along one axis) that one central output of ``disc`` depends on."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = disc(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1))
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
def test_the_stated_receptive_field_is_the_networks(layers):
    torch.manual_seed(0)
    disc = PatchGAN(1, width=0.125, layers=layers)
    for m in disc.modules():  # instance norm would spread every pixel's influence over the whole map
        if isinstance(m, torch.nn.InstanceNorm2d):
            m.forward = lambda x: x  # type: ignore[method-assign]
    assert numeric_field(disc, 160) == patchgan_field(layers)


def test_the_discriminator_depth_keeps_the_papers_share_of_the_image():
    assert [patchgan_layers(s) for s in (32, 64, 128, 240)] == [0, 1, 2, 3]
    for size in (32, 64, 96, 128, 240, 480):
        share = patchgan_field(patchgan_layers(size)) / size
        assert 0.15 < share < 0.45  # the paper: 70 / 240 = 0.29


def test_the_multiscale_discriminator_scores_every_scale():
    disc = MultiScalePatchGAN(2, width=0.125, layers=1, scales=2)
    out = disc(torch.zeros(3, 2, 64, 64))
    single = PatchGAN(2, width=0.125, layers=1)(torch.zeros(3, 2, 64, 64)).flatten(1).shape[1]
    half = PatchGAN(2, width=0.125, layers=1)(torch.zeros(3, 2, 32, 32)).flatten(1).shape[1]
    assert out.shape == (3, single + half)
