"""Metric objects and one-pair functions for the built-in metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .batch import MetricInputError, as_mask, dice_pp, score_batch
from .empty import EmptyConvention

Spacing = float | Sequence[float] | None


@dataclass(frozen=True)
class Metric:
    """A named segmentation metric.

    ``metric(pred, ref, spacing)`` scores one image (a 2D slice or a 3D
    volume) and returns a float; ``metric.batch(pred, ref, spacing)``
    scores each item along axis 0 and returns an array. ``empty`` names
    the empty-mask convention (see :mod:`pathogan_bench.metrics.empty`).
    """

    name: str
    description: str
    higher_is_better: bool
    #: "ratio" (Dice, in [0, 1]) or "distance" (in the units of the spacing)
    unit: str
    #: "pair": one value per slice or volume; "patient": all of a patient's slices stacked
    level: str = "pair"
    #: which reference implementation the values match
    reference: str = ""
    empty: str = "default"

    def with_options(self, empty: str | None = None) -> Metric:
        return self if empty is None else dataclasses.replace(self, empty=empty)

    def __call__(
        self, pred: object, ref: object, spacing: Spacing = None, *, empty: str | EmptyConvention | None = None
    ) -> float:
        pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
        if self.level == "patient":
            return float(dice_pp(pred, ref, empty=empty or self.empty))
        if pred.ndim not in (2, 3):
            raise MetricInputError(
                f"{self.name}: expected one 2D or 3D image, got shape {pred.shape} (use .batch for a stack of slices)"
            )
        return float(self.batch(pred[None], ref[None], spacing, empty=empty, workers=1)[0])

    def batch(
        self,
        pred: object,
        ref: object,
        spacing: Spacing = None,
        *,
        empty: str | EmptyConvention | None = None,
        workers: int | None = None,
    ) -> np.ndarray:
        name = "dice" if self.level == "patient" else self.name  # an item's stack Dice is its Dice
        return score_batch(pred, ref, (name,), spacing, empty or self.empty, workers).values[name]


_DISTANCE_NOTE = "in the units of the spacing"

BUILTIN: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("dice", "Dice overlap 2|P∩G|/(|P|+|G|)", True, "ratio", reference="medpy.metric.binary.dc"),
        Metric(
            "hd95",
            f"95th percentile of the pooled symmetric border distances ({_DISTANCE_NOTE})",
            False,
            "distance",
            reference="medpy.metric.binary.hd95",
        ),
        Metric(
            "hd",
            f"Hausdorff distance: maximum of the pooled border distances ({_DISTANCE_NOTE})",
            False,
            "distance",
            reference="medpy.metric.binary.hd",
        ),
        Metric(
            "assd",
            f"average symmetric surface distance: mean of the pooled border distances ({_DISTANCE_NOTE})",
            False,
            "distance",
            reference="medpy.metric.binary.assd (0.5.2)",
        ),
        Metric(
            "avd",
            "average Hausdorff distance over all foreground pixels, max of the two directed means "
            f"(Taha & Hanbury; {_DISTANCE_NOTE})",
            False,
            "distance",
            reference="evalseg_avd_max (Taha & Hanbury 2015 definition)",
        ),
        Metric(
            "avd_mean",
            "average Hausdorff distance over all foreground pixels, mean of the two directed means "
            f"(EvaluateSegmentation's AVGDIST; {_DISTANCE_NOTE})",
            False,
            "distance",
            reference="evalseg_avgdist_tool (EvaluateSegmentation AVGDIST)",
        ),
        Metric(
            "dice_pp",
            "per-patient volumetric Dice of all evaluated slices stacked",
            True,
            "ratio",
            level="patient",
            reference="medpy.metric.binary.dc on the stacked slices",
        ),
    )
}


def get_metric(name: str, empty: str | None = None) -> Metric:
    """The built-in metric ``name`` (optionally with another empty-mask convention)."""
    try:
        return BUILTIN[name].with_options(empty)
    except KeyError:
        raise MetricInputError(f"unknown metric '{name}'; built-in metrics: {', '.join(BUILTIN)}") from None


def _one(name: str, pred: object, ref: object, spacing: Spacing, empty: str | EmptyConvention | None) -> float:
    return BUILTIN[name](pred, ref, spacing, empty=empty)


def dice(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Dice 2|P∩G|/(|P|+|G|) of one 2D or 3D pair (``spacing`` is accepted and ignored)."""
    return _one("dice", pred, ref, spacing, empty)


def hd95(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """95th percentile (linear interpolation) of the pooled border distances, as medpy's ``hd95``."""
    return _one("hd95", pred, ref, spacing, empty)


def hd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Hausdorff distance: maximum of the pooled border distances, as medpy's ``hd``."""
    return _one("hd", pred, ref, spacing, empty)


def assd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Mean of the pooled border distances, as medpy 0.5's ``assd``."""
    return _one("assd", pred, ref, spacing, empty)


def avd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Average Hausdorff distance (Taha & Hanbury): max of the directed all-foreground-pixel means."""
    return _one("avd", pred, ref, spacing, empty)


def avd_mean(
    pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default"
) -> float:
    """Average Hausdorff distance as EvaluateSegmentation prints it: mean of the two directed means."""
    return _one("avd_mean", pred, ref, spacing, empty)
