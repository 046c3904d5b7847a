"""Built-in metrics: of masks, Dice, HD95, HD, ASSD, AVD (two variants) and per-patient Dice, computed by the scoring
kernel in one pass; of probability maps, pixel AUROC, AUPRC and the best-threshold Dice, from one threshold-free
pass. Each is stated once here, with every fact a report shows of it (label, unit, direction, note).

Each mask metric's factory takes ``empty="default"|"brats"`` (the empty-mask convention).
"""

from __future__ import annotations

import functools

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

MAP_METRICS: tuple[MapScore, ...] = (
    MapScore("auroc", "pixel AUROC of the probability map inside the brain", label="AUROC", field="auroc"),
    MapScore("auprc", "pixel average precision (AUPRC) inside the brain", label="AUPRC", field="auprc"),
    MapScore(
        "best_dice",
        "Dice at the best threshold, chosen on the scored pixels themselves (optimistic)",
        label="best-threshold Dice",
        field="best_dice",
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
