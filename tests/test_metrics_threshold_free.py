"""Threshold-free scores of probability maps: against brute force, edge cases, chunks and dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pathogan_bench.metrics import MetricInputError, ThresholdFree, threshold_free
from pathogan_bench.metrics.threshold_free import scores_from_counts


def brute_force(prob: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """The definitions, written out: every threshold, every positive-negative pair."""
    prob, ref = prob.astype(np.float64).ravel(), ref.astype(bool).ravel()
    pos, neg = prob[ref], prob[~ref]
    out = {"auroc": math.nan, "auprc": math.nan}
    if len(pos) and len(neg):
        wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        out["auroc"] = wins / (len(pos) * len(neg))
        ap, last_recall = 0.0, 0.0
        for t in np.unique(prob)[::-1]:
            predicted = prob >= t
            tp = int((predicted & ref).sum())
            recall, precision = tp / len(pos), tp / int(predicted.sum())
            ap += (recall - last_recall) * precision
            last_recall = recall
        out["auprc"] = ap
    best, best_t = -1.0, math.nan
    for t in np.unique(prob)[::-1]:  # from the top: the first maximum is the highest threshold
        predicted = prob >= t
        tp, fp, fn = int((predicted & ref).sum()), int((predicted & ~ref).sum()), int((~predicted & ref).sum())
        dice = 2 * tp / (2 * tp + fp + fn)
        if dice > best:
            best, best_t = dice, float(t)
    out["best_dice"], out["best_threshold"] = best, best_t
    return out


def tied_map(seed: int, shape=(3, 11, 9), levels: int = 6, dtype=np.float16) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities on a few levels (many ties), positives more likely at higher values."""
    rng = np.random.default_rng(seed)
    prob = rng.integers(0, levels + 1, shape) / levels
    ref = rng.random(shape) < 0.15 + 0.6 * prob
    return prob.astype(dtype), ref


def assert_matches(result: ThresholdFree, expected: dict[str, float]) -> None:
    for name in ("auroc", "auprc", "best_dice"):
        assert getattr(result, name) == pytest.approx(expected[name], rel=1e-12, nan_ok=True), name
    assert result.best_threshold == expected["best_threshold"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_matches_brute_force_with_ties(seed, dtype):
    prob, ref = tied_map(seed, levels=3 + seed, dtype=dtype)
    result = threshold_free(prob, ref)
    assert_matches(result, brute_force(prob, ref))
    assert result.positives == int(ref.sum()) and result.pixels == prob.size


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_matches_brute_force_on_continuous_values(dtype):
    rng = np.random.default_rng(7)
    prob = rng.random((400,)).astype(dtype)
    ref = rng.random(400) < prob
    assert_matches(threshold_free(prob, ref), brute_force(prob, ref))


def test_perfect_separation_scores_one():
    prob = np.array([0.1, 0.2, 0.2, 0.7, 0.9, 0.9], dtype=np.float16)
    ref = prob > 0.5
    result = threshold_free(prob, ref)
    assert (result.auroc, result.auprc, result.best_dice) == (1.0, 1.0, 1.0)
    assert result.best_threshold == float(np.float16(0.7))


def test_constant_map_gives_chance():
    ref = np.zeros((10, 10), dtype=bool)
    ref[:3, :4] = True
    result = threshold_free(np.full((10, 10), 0.3, dtype=np.float16), ref)
    assert result.auroc == 0.5
    assert result.auprc == pytest.approx(12 / 100, rel=1e-15)  # the prevalence
    assert result.best_dice == pytest.approx(2 * 12 / (100 + 12))
    assert result.best_threshold == float(np.float16(0.3))


def test_inverted_map_scores_zero_auroc():
    prob = np.array([0.1, 0.2, 0.2, 0.7, 0.9, 0.9], dtype=np.float16)
    result = threshold_free(prob, prob < 0.5)
    assert result.auroc == 0.0
    assert result.auprc < 1


def test_valid_excludes_pixels():
    prob, ref = tied_map(3)
    valid = np.random.default_rng(0).random(prob.shape) < 0.5
    result = threshold_free(prob, ref, valid)
    assert result == threshold_free(prob[valid], ref[valid])
    assert result.pixels == int(valid.sum()) and result.positives == int((ref & valid).sum())
    assert_matches(result, brute_force(prob[valid], ref[valid]))
    # what lies outside ``valid`` does not count
    other = prob.copy()
    other[~valid] = 1.0
    assert threshold_free(other, ref | ~valid, valid) == result


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("with_valid", [False, True])
def test_chunked_equals_unchunked(dtype, with_valid):
    prob, ref = tied_map(4, shape=(5, 13, 11), levels=9, dtype=dtype)
    valid = np.random.default_rng(1).random(prob.shape) < 0.7 if with_valid else None
    whole = threshold_free(prob, ref, valid)
    for chunk in (1, 7, 64, 1000):
        assert threshold_free(prob, ref, valid, chunk=chunk) == whole


def test_float16_and_float32_of_the_same_values_agree():
    prob, ref = tied_map(5, levels=16)  # float16 values, exact in float32 and float64
    half = threshold_free(prob, ref)
    assert threshold_free(prob.astype(np.float32), ref) == half
    assert threshold_free(prob.astype(np.float64), ref, chunk=10) == half


def test_layout_and_mask_dtypes_do_not_matter():
    prob, ref = tied_map(6, shape=(4, 12, 10))
    expected = threshold_free(prob, ref)
    assert threshold_free(prob.transpose(2, 0, 1), ref.transpose(2, 0, 1)) == expected
    assert threshold_free(np.asfortranarray(prob), ref.astype(np.uint8)) == expected
    assert threshold_free(prob[:, ::2], ref[:, ::2]) == threshold_free(prob[:, ::2].copy(), ref[:, ::2].copy())


def test_boolean_map_is_scored():
    ref = np.array([True, True, False, False, False])
    result = threshold_free(np.array([True, False, True, False, False]), ref)
    assert_matches(result, brute_force(np.array([1.0, 0, 1, 0, 0]), ref))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_minus_zero_is_zero(dtype):
    prob = np.array([-0.0, 0.0, 0.5, 1.0], dtype=dtype)
    ref = np.array([False, True, True, True])
    result = threshold_free(prob, ref)
    assert_matches(result, brute_force(np.abs(prob), ref))
    low = threshold_free(prob, np.array([True, True, False, False]))
    assert low.best_threshold == 0.0 and math.copysign(1.0, low.best_threshold) == 1.0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bad", [math.nan, -0.25, 1.5, math.inf])
def test_refuses_nan_and_values_outside_0_1(dtype, bad):
    prob, ref = tied_map(0, dtype=dtype)
    valid = np.ones(prob.shape, dtype=bool)
    prob[1, 2, 3], valid[1, 2, 3] = bad, False  # checked even outside ``valid``
    with pytest.raises(MetricInputError, match="NaN" if math.isnan(bad) else r"\[0, 1\]"):
        threshold_free(prob, ref, valid)


def test_no_positives_or_no_negatives():
    prob = np.array([0.2, 0.4, 0.4, 0.8], dtype=np.float16)
    none = threshold_free(prob, np.zeros(4, dtype=bool))
    assert math.isnan(none.auroc) and math.isnan(none.auprc)
    assert none.best_dice == 0.0 and none.positives == 0 and none.pixels == 4
    every = threshold_free(prob, np.ones(4, dtype=bool))
    assert math.isnan(every.auroc) and math.isnan(every.auprc)
    assert every.best_dice == 1.0 and every.best_threshold == float(np.float16(0.2))


def test_nothing_scored_is_nan():
    prob, ref = tied_map(1)
    for result in (
        threshold_free(prob, ref, np.zeros(prob.shape, dtype=bool)),
        threshold_free(np.zeros(0, np.float32), np.zeros(0, bool)),
    ):
        assert result.pixels == 0 and result.positives == 0
        assert all(math.isnan(v) for v in (result.auroc, result.auprc, result.best_dice, result.best_threshold))


def test_refuses_bad_inputs():
    prob, ref = tied_map(2)
    with pytest.raises(MetricInputError, match="shape"):
        threshold_free(prob, ref[:-1])
    with pytest.raises(MetricInputError, match="mask"):
        threshold_free(prob, ref.astype(np.float32))
    with pytest.raises(MetricInputError, match="valid"):
        threshold_free(prob, ref, np.ones(3, dtype=bool))
    with pytest.raises(MetricInputError, match="floating"):
        threshold_free(prob.astype(complex), ref)


def test_large_counts_stay_exact():
    # 4e9 positives and negatives: the Mann-Whitney sum no longer fits int64 and is added in float64
    result = scores_from_counts(np.array([0.0, 1.0]), np.array([3 * 10**9, 10**9]), np.array([10**9, 3 * 10**9]))
    assert result.auroc == pytest.approx((3 * 3 + 0.5 * (1 * 3 + 3 * 1) + 0) / 16, rel=1e-15)
    small = scores_from_counts(np.array([0.0, 1.0]), np.array([3, 1]), np.array([1, 3]))
    assert small.auroc == result.auroc and small.auprc == result.auprc and small.best_dice == result.best_dice
