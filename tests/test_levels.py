"""The anatomical-level shortcut: the level score, the level-matched sampler, and the change outside the lesion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathogan_bench.data.levels import level_bins, level_separation, matching_weights, normalised_levels
from pathogan_bench.engine.batches import DomainBatches
from pathogan_bench.engine.infer import change_outside_lesion


def test_levels_are_normalised_per_patient():
    patient = np.array(["a", "a", "a", "b", "b"])
    z = np.array([10, 15, 20, 100, 140])
    assert normalised_levels(patient, z).tolist() == [0.0, 0.5, 1.0, 0.0, 1.0]


def test_the_level_score_is_one_when_the_domains_never_share_a_level():
    levels = np.r_[np.linspace(0, 0.29, 50), np.linspace(0.7, 1, 50), np.linspace(0.35, 0.65, 100)]
    pathological = np.r_[np.zeros(100, bool), np.ones(100, bool)]  # healthy above and below, as in small BraTS sets
    found = level_separation(levels, pathological)
    assert found.auroc == 1.0 and found.shared_range is None and found.high
    with pytest.raises(ValueError, match="no axial level holds both"):
        matching_weights(levels, pathological)


def test_the_level_score_is_about_one_half_when_the_domains_share_their_levels():
    rng = np.random.default_rng(0)
    levels = rng.uniform(0, 1, 4000)
    found = level_separation(levels, rng.uniform(size=4000) < 0.5)
    assert found.auroc == pytest.approx(0.5, abs=0.03) and not found.high
    assert found.shared_range == (0.0, 1.0) and found.healthy_shared == found.healthy


def test_the_matched_sampler_draws_both_domains_with_one_level_histogram_and_counts_what_it_leaves_out():
    rng = np.random.default_rng(1)
    healthy_levels = np.r_[rng.uniform(0, 0.2, 60), rng.uniform(0.4, 0.6, 20), rng.uniform(0.9, 1.0, 60)]
    patho_levels = np.r_[rng.uniform(0.3, 0.7, 80), rng.uniform(0.95, 1.0, 5)]
    levels = np.r_[healthy_levels, patho_levels]
    pathological = np.r_[np.zeros(len(healthy_levels), bool), np.ones(len(patho_levels), bool)]
    healthy_w, patho_w = matching_weights(levels, pathological)
    shared_bins = {4, 5, 9}
    assert {int(b) for b in level_bins(healthy_levels[healthy_w > 0])} <= shared_bins
    assert (patho_w > 0).sum() == (
        (level_bins(patho_levels) == 4) | (level_bins(patho_levels) == 5) | (level_bins(patho_levels) == 9)
    ).sum()
    # the images hold their level, so the batches' histograms are the sampler's
    healthy = np.broadcast_to(healthy_levels[:, None, None, None], (len(healthy_levels), 1, 2, 2)).astype(np.float32)
    patho = np.broadcast_to(patho_levels[:, None, None, None], (len(patho_levels), 1, 2, 2)).astype(np.float32)
    batches = DomainBatches(healthy, patho, 16, seed=3, device=torch.device("cpu"), weights=(healthy_w, patho_w))
    drawn_a, drawn_b = [], []
    for step in range(400):
        batch = batches.batch(step)
        drawn_a.append(batch["x_a"][:, 0, 0, 0].numpy())
        drawn_b.append(batch["x_b"][:, 0, 0, 0].numpy())
    hist_a = np.bincount(level_bins(np.concatenate(drawn_a)), minlength=10) / (400 * 16)
    hist_b = np.bincount(level_bins(np.concatenate(drawn_b)), minlength=10) / (400 * 16)
    assert np.abs(hist_a - hist_b).max() < 0.03, (hist_a.round(3), hist_b.round(3))
    assert hist_a[[0, 1, 2, 3, 6, 7, 8]].sum() == 0 and hist_b[[0, 1, 2, 3, 6, 7, 8]].sum() == 0
    again = DomainBatches(healthy, patho, 16, seed=3, device=torch.device("cpu"), weights=(healthy_w, patho_w))
    assert torch.equal(again.batch(123)["x_a"], batches.batch(123)["x_a"])  # a pure function of (seed, step)


def test_the_change_outside_the_lesion_ignores_the_lesion_and_the_background():
    images = np.full((2, 2, 8, 8), -1.0, np.float32)  # background
    images[:, :, 1:7, 1:7] = 0.0  # brain
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 2:4, 2:4] = True  # a lesion on the first slice; the second is healthy
    healed = images.copy()
    healed[0, :, 2:4, 2:4] = 0.9  # the lesion is changed (allowed)
    healed[0, :, 5, 5] = 0.36  # one brain pixel outside it changes by 0.36
    healed[1, :, 1:7, 1:7] += 0.1  # the healthy slice changes everywhere by 0.1
    healed[:, :, 0, 0] = 5.0  # background changes never count
    change = change_outside_lesion(images, healed, masks)
    assert change[0] == pytest.approx(0.36 / 32)  # 36 brain pixels, 4 in the lesion
    assert change[1] == pytest.approx(0.1)


def test_the_levels_both_domains_share_are_said_as_ranges_of_bins():
    levels = np.r_[0.05, 0.55, 0.65, 0.85, 0.05, 0.55, 0.65, 0.85, 0.3]
    pathological = np.r_[np.zeros(4, bool), np.ones(5, bool)]
    found = level_separation(levels, pathological)
    assert found.shared_bins == (0, 5, 6, 8)
    assert "normalised levels 0.0-0.1, 0.5-0.7, 0.8-0.9 (4 of 4 healthy, 4 of 5 pathological" in found.sentence()
