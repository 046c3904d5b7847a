"""Built-in metrics: of masks, Dice, HD95, HD, ASSD, AVD (two variants) and per-patient Dice, computed by the scoring
kernel in one pass; of probability maps, pixel AUROC, AUPRC and the best-threshold Dice, from one threshold-free
pass, and the expected calibration error of the maps. Each is stated once here, with every fact a report shows of
it (label, unit, direction, note).

Each mask metric's factory takes ``empty="default"|"brats"`` (the empty-mask convention).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from pathogan_bench.plugin import MapScore, Metric, Spec, hookimpl

_DISTANCE = "in the units of the spacing"

MASK_METRICS: tuple[Metric, ...] = (
    Metric("dice", "Dice", "Dice overlap 2|P∩G|/(|P|+|G|)", True, "ratio", reference="medpy.metric.binary.dc"),
    Metric(
        "hd95",
        "HD95",
        f"95th percentile of the pooled symmetric border distances ({_DISTANCE})",
        False,
        "distance",
        reference="medpy.metric.binary.hd95",
    ),
    Metric(
        "hd",
        "HD",
        f"Hausdorff distance: maximum of the pooled border distances ({_DISTANCE})",
        False,
        "distance",
        reference="medpy.metric.binary.hd",
    ),
    Metric(
        "assd",
        "ASSD",
        f"average symmetric surface distance: mean of the pooled border distances ({_DISTANCE})",
        False,
        "distance",
        reference="medpy.metric.binary.assd (0.5.2)",
    ),
    Metric(
        "avd",
        "AVD",
        f"average Hausdorff distance over all foreground pixels, max of the two directed means (Taha & Hanbury; "
        f"{_DISTANCE})",
        False,
        "distance",
        reference="evalseg_avd_max (Taha & Hanbury 2015 definition)",
        note="AVD is the average Hausdorff distance (Taha & Hanbury 2015: the larger of the two directed mean "
        "distances over all foreground pixels), not the absolute volume difference",
    ),
    Metric(
        "avd_mean",
        "AVD (mean)",
        "average Hausdorff distance over all foreground pixels, mean of the two directed means "
        f"(EvaluateSegmentation's AVGDIST; {_DISTANCE})",
        False,
        "distance",
        reference="evalseg_avgdist_tool (EvaluateSegmentation AVGDIST)",
        note="AVD (mean) is the mean of the two directed mean distances (EvaluateSegmentation's AVGDIST)",
    ),
    Metric(
        "dice_pp",
        "Dice PP",
        "per-patient volumetric Dice of all evaluated slices stacked",
        True,
        "ratio",
        level="patient",
        reference="medpy.metric.binary.dc on the stacked slices",
        note="Dice PP is the Dice of each patient's evaluated slices stacked, averaged over patients",
    ),
)

#: equal-width probability bins of the expected calibration error
ECE_BINS = 10


def expected_calibration_error(prob: Any, ref: Any, valid: Any = None) -> float:
    """ECE of the map read as a probability of lesion (Guo et al. 2017), over the valid (brain) pixels: the mean,
    weighted by pixel count, of |mean probability - lesion fraction| in ten equal-width bins of [0, 1]."""
    p = np.asarray(prob, dtype=np.float64)
    r = np.asarray(ref, dtype=bool)
    if valid is not None:
        keep = np.asarray(valid, dtype=bool)
        p, r = p[keep], r[keep]
    p, r = p.ravel(), r.ravel()
    if not len(p):
        return math.nan
    bins = np.minimum((np.clip(p, 0, 1) * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    counts = np.bincount(bins, minlength=ECE_BINS)
    confidence = np.bincount(bins, weights=p, minlength=ECE_BINS)
    positives = np.bincount(bins, weights=r.astype(np.float64), minlength=ECE_BINS)
    filled = counts > 0
    return float(np.abs(confidence[filled] - positives[filled]).sum() / len(p))


MAP_METRICS: tuple[MapScore, ...] = (
    MapScore("auroc", "pixel AUROC of the probability map inside the brain", label="AUROC", field="auroc"),
    MapScore("auprc", "pixel average precision (AUPRC) inside the brain", label="AUPRC", field="auprc"),
    MapScore(
        "best_dice",
        "Dice at the best threshold, chosen on the scored pixels themselves (optimistic)",
        label="best-threshold Dice",
        field="best_dice",
    ),
    MapScore(
        "ece",
        "expected calibration error of the map read as a lesion probability, 10 bins, inside the brain",
        higher_is_better=False,
        label="ECE",
        function=expected_calibration_error,
        note="ECE is the expected calibration error of the map read as a probability (0: a pixel's value is the "
        "fraction of lesion among pixels of that value); a map used only through a threshold need not be calibrated",
    ),
)


def _mask_metric(metric: Metric, empty: str | None = None) -> Metric:
    return metric.with_options(empty)


def _map_metric(metric: MapScore) -> MapScore:
    return metric


@hookimpl
def register_metrics() -> list[Spec]:
    maps = [
        Spec(m.name, functools.partial(_map_metric, m), f"{m.description} [input: probability map]")
        for m in MAP_METRICS
    ]
    masks = [
        Spec(m.name, functools.partial(_mask_metric, m), f"{m.description} [matches {m.reference}]")
        for m in MASK_METRICS
    ]
    return maps + masks
