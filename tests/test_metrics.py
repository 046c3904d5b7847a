"""Metric definitions on cases computed by hand and against a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from pathogan_bench import metrics as M
from pathogan_bench.errors import UserError
from pathogan_bench.metrics.core import percentile_linear
from pathogan_bench.registry import get_registry


def metric(name: str):
    """The registered metric ``name``, as a run creates it."""
    return get_registry().create("metric", name)


def square(shape=(40, 40), top=10, left=10, size=10) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


# -- cases computed by hand -------------------------------------------------
def test_square_against_square_shifted_by_three_rows():
    pred, ref = square(), square(top=13)
    assert M.dice(pred, ref) == pytest.approx(2 * 70 / 200)
    # every border pixel is within 3 rows of the other border, the far rows exactly 3
    assert M.hd(pred, ref) == 3.0
    # all-pixel directed mean: rows 10, 11, 12 of pred lie 3, 2, 1 rows outside ref
    assert M.avd(pred, ref) == pytest.approx((3 + 2 + 1) * 10 / 100)
    assert M.avd_mean(pred, ref) == pytest.approx(0.6)
    assert 0 < M.assd(pred, ref) < M.hd95(pred, ref) <= M.hd(pred, ref)


def test_two_single_pixels_at_a_3_4_5_triangle():
    pred, ref = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    pred[1, 1] = True
    ref[4, 5] = True
    for fn in (M.hd95, M.hd, M.assd, M.avd, M.avd_mean):
        assert fn(pred, ref) == 5.0
    assert M.dice(pred, ref) == 0.0


def test_spacing_scales_each_axis():
    pred, ref = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    pred[1, 1] = True
    ref[4, 5] = True
    assert M.hd(pred, ref, spacing=(2.0, 1.0)) == pytest.approx(math.hypot(6, 4))
    assert M.hd(pred, ref, spacing=(1.0, 0.5)) == pytest.approx(math.hypot(3, 2))
    assert M.avd(square(), square(top=13), spacing=(2.0, 1.0)) == pytest.approx(1.2)
    assert M.hd(square(), square(top=13), spacing=3.0) == pytest.approx(9.0)
    assert M.dice(square(), square(top=13), spacing=(5.0, 5.0)) == pytest.approx(0.7)


def test_identical_masks_score_perfectly():
    mask = square()
    assert M.dice(mask, mask) == 1.0
    for fn in (M.hd95, M.hd, M.assd, M.avd, M.avd_mean):
        assert fn(mask, mask) == 0.0


def test_mask_touching_the_image_edge_counts_its_edge_as_border():
    full = np.ones((5, 5), bool)
    assert M.border(full).sum() == 16  # the outside counts as background
    assert M.hd(full, full) == 0.0
    inner = np.zeros((5, 5), bool)
    inner[2, 2] = True
    # distances from the 16 edge pixels to the centre: 8 at 1 or sqrt 2 ... max is the corner
    assert M.hd(full, inner) == pytest.approx(math.sqrt(8))


def test_percentile_is_numpy_linear_bit_for_bit():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 19, 20, 21, 100, 257):
        values = np.sqrt(rng.integers(0, 500, n).astype(float))
        assert percentile_linear(values, 95) == np.percentile(values, 95)


# -- brute force: every definition from pairwise distances ------------------
def brute_force(pred: np.ndarray, ref: np.ndarray, spacing) -> dict[str, float]:
    cross = ndimage.generate_binary_structure(pred.ndim, 1)
    step = np.asarray(spacing, float)

    def points(mask):
        return np.argwhere(mask) * step

    def border(mask):
        return mask ^ ndimage.binary_erosion(mask, cross, border_value=0)

    def nearest(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).min(1)

    pb, rb = points(border(pred)), points(border(ref))
    pooled = np.concatenate([nearest(pb, rb), nearest(rb, pb)])
    d_pr = nearest(points(pred), points(ref))  # 0 for pixels inside the other mask
    d_rp = nearest(points(ref), points(pred))
    return {
        "hd95": np.percentile(pooled, 95),
        "hd": pooled.max(),
        "assd": pooled.mean(),
        "avd": max(d_pr.mean(), d_rp.mean()),
        "avd_mean": (d_pr.mean() + d_rp.mean()) / 2,
    }


def blobs(rng, shape, n=3):
    mask = np.zeros(shape, bool)
    grid = np.indices(shape)
    for _ in range(n):
        centre = [rng.uniform(0.2 * s, 0.8 * s) for s in shape]
        radius = rng.uniform(1.5, min(shape) / 4)
        mask |= sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2
    return mask


@pytest.mark.parametrize(
    "shape,spacing", [((32, 40), (1.0, 1.0)), ((32, 40), (0.7, 1.9)), ((12, 14, 10), (1.0, 1.0, 2.5))]
)
def test_against_brute_force_pairwise_distances(shape, spacing):
    rng = np.random.default_rng(sum(shape))
    for _ in range(6):
        pred, ref = blobs(rng, shape), blobs(rng, shape)
        expected = brute_force(pred, ref, spacing)
        for name, value in expected.items():
            assert metric(name)(pred, ref, spacing) == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_against_medpy_when_installed():
    binary = pytest.importorskip("medpy.metric.binary")
    rng = np.random.default_rng(7)
    for shape, spacing in (((48, 40), (1.0, 1.0)), ((48, 40), (1.3, 0.6)), ((16, 18, 12), (1.0, 1.0, 3.0))):
        for _ in range(4):
            pred, ref = blobs(rng, shape), blobs(rng, shape)
            assert M.dice(pred, ref) == pytest.approx(binary.dc(pred, ref), rel=1e-12)
            assert M.hd95(pred, ref, spacing) == pytest.approx(binary.hd95(pred, ref, spacing), rel=1e-9)
            assert M.hd(pred, ref, spacing) == pytest.approx(binary.hd(pred, ref, spacing), rel=1e-9)
            assert M.assd(pred, ref, spacing) == pytest.approx(binary.assd(pred, ref, spacing), rel=1e-9)


# -- empty masks ------------------------------------------------------------
EMPTY = np.zeros((20, 20), bool)
DISTANCES = ("hd95", "hd", "assd", "avd", "avd_mean")


def test_default_convention():
    mask = square((20, 20), 5, 5, 5)
    assert M.dice(EMPTY, EMPTY) == 1.0
    assert M.dice(EMPTY, mask) == 0.0 and M.dice(mask, EMPTY) == 0.0
    for name in DISTANCES:
        fn = metric(name)
        assert fn(EMPTY, EMPTY) == 0.0
        assert math.isnan(fn(EMPTY, mask)) and math.isnan(fn(mask, EMPTY))


def test_brats_convention():
    mask = square((20, 20), 2, 2, 4)
    apart = square((20, 20), 12, 12, 4)
    assert math.isnan(M.dice(EMPTY, EMPTY, empty="brats"))
    assert math.isnan(M.hd95(EMPTY, EMPTY, empty="brats"))
    assert M.hd95(EMPTY, mask, empty="brats") == M.BRATS_PENALTY == 373.0
    assert M.hd95(mask, EMPTY, empty="brats") == 373.0
    assert M.hd95(mask, apart, empty="brats") == 373.0  # disjoint: the penalty, not the distance
    assert M.hd95(mask, apart) == pytest.approx(M.hd95(mask, apart, empty="default"))
    assert M.hd95(mask, apart) < 373.0
    assert M.dice(EMPTY, mask, empty="brats") == 0.0
    assert math.isnan(M.avd(EMPTY, mask, empty="brats"))
    assert M.hd(mask, apart, empty="brats") == M.hd(mask, apart)


def test_unknown_convention_is_a_user_error():
    with pytest.raises(UserError, match="convention 'nope'"):
        M.dice(EMPTY, EMPTY, empty="nope")


def test_cases_and_undefined_counts():
    mask = square((20, 20), 2, 2, 4)
    pred = np.stack([mask, EMPTY, mask, EMPTY, mask])
    ref = np.stack([mask, mask, EMPTY, EMPTY, square((20, 20), 12, 12, 4)])
    scores = M.score_batch(pred, ref, ("dice", "hd95"))
    assert list(scores.case_names()) == ["normal", "pred_empty", "ref_empty", "both_empty", "no_overlap"]
    assert scores.undefined("hd95") == 2 and scores.undefined("dice") == 0


# -- batches ----------------------------------------------------------------
def test_batch_equals_single_slices_with_and_without_threads():
    rng = np.random.default_rng(11)
    empty = np.zeros((30, 30), bool)
    pred = np.stack([blobs(rng, (30, 30)) for _ in range(40)] + [empty, empty, blobs(rng, (30, 30))])
    ref = np.stack([blobs(rng, (30, 30)) for _ in range(40)] + [empty, blobs(rng, (30, 30)), empty])
    names = M.KERNEL_METRICS
    serial = M.score_slices(pred, ref, names, spacing=(1.0, 1.5), workers=1)
    threaded = M.score_slices(pred, ref, names, spacing=(1.0, 1.5), workers=4)
    for name in names:
        single = np.array([metric(name)(p, r, (1.0, 1.5)) for p, r in zip(pred, ref)])
        np.testing.assert_array_equal(serial[name], single)
        np.testing.assert_array_equal(threaded[name], single)
        assert metric(name).batch(pred, ref, (1.0, 1.5)).tolist() == pytest.approx(single.tolist(), nan_ok=True)


def test_volume_is_scored_in_3d():
    rng = np.random.default_rng(5)
    pred, ref = blobs(rng, (12, 16, 16)), blobs(rng, (12, 16, 16))
    volume = M.hd(pred, ref, spacing=(2.0, 1.0, 1.0))
    assert volume == pytest.approx(brute_force(pred, ref, (2.0, 1.0, 1.0))["hd"])
    assert M.dice_pp(pred, ref) == pytest.approx(M.dice(pred, ref))


def test_integer_masks_are_accepted_and_probabilities_refused():
    mask = square()
    assert M.dice(mask.astype(np.uint8), mask.astype(np.int64) * 3) == 1.0
    with pytest.raises(M.MetricInputError, match="threshold probabilities"):
        M.dice(mask.astype(np.float32), mask)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: M.dice(np.zeros((4, 4), bool), np.zeros((4, 5), bool)), "differs from reference shape"),
        (lambda: M.hd(np.zeros((4, 4), bool), np.zeros((4, 4), bool), spacing=(1, 1, 1)), "3 entries for 2-D"),
        (lambda: M.hd(np.zeros((4, 4), bool), np.zeros((4, 4), bool), spacing=(1, -1)), "positive"),
        (lambda: M.score_slices(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool), ("dice_pp",)), "per-patient"),
        (
            lambda: M.score_slices(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool), ("iou",)),
            "unknown metric 'iou'",
        ),
        (lambda: get_registry().get("metric", "hd99"), "unknown metric 'hd99'"),
    ],
)
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(UserError, match=message):
        call()


def test_metrics_are_registered_as_plugins():
    registry = get_registry()
    assert {*M.KERNEL_METRICS, "dice_pp"} <= set(registry.names("metric"))
    hd95 = registry.create("metric", "hd95", empty="brats")
    assert isinstance(hd95, M.Metric) and hd95.higher_is_better is False and hd95.empty == "brats"
    assert hd95(EMPTY, square((20, 20), 2, 2, 4)) == 373.0
    assert registry.create("metric", "dice").higher_is_better is True
    assert "medpy" in registry.get("metric", "hd95").spec.summary
