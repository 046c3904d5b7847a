"""Metric objects computed by the scoring kernel, and one-pair functions for the kernel's metrics.

A :class:`Metric` is a mask metric (pathogan_bench.contracts.metric.MaskMetric) whose values come from the
shared kernel pass (:func:`.batch.score_batch`): every kernel metric of a run is scored in one pass over the
slices, sharing the distance transforms. Which kernel metrics exist, with their labels, units and notes, the
built-in metric plugin states (``pathogan_bench_plugins.metrics``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..contracts.metric import MaskMetric
from .batch import KERNEL_METRICS, BatchScores, MetricInputError, as_mask, dice_pp, score_batch
from .empty import EmptyConvention

Spacing = float | Sequence[float] | None


@dataclass(frozen=True)
class Metric:
    """A metric of masks computed by the scoring kernel: ``name`` is one of :data:`.batch.KERNEL_METRICS` (a
    "pair" metric) or ``dice_pp`` (level "patient": the Dice of a patient's slices stacked).

    ``metric(pred, ref, spacing)`` scores one image (a 2D slice or a 3D volume); ``metric.batch(pred, ref,
    spacing)`` scores each item along axis 0. ``empty`` names the empty-mask convention
    (:mod:`pathogan_bench.metrics.empty`).
    """

    name: str
    label: str
    description: str
    higher_is_better: bool
    #: "ratio" (Dice, in [0, 1]) or "distance" (in the units of the spacing)
    unit: str
    #: "pair": one value per slice or volume; "patient": all of a patient's slices stacked
    level: str = "pair"
    #: which reference implementation the values match
    reference: str = ""
    #: what a report says under its table when the name may mislead
    note: str = ""
    empty: str = "default"
    input: str = "mask"

    def __post_init__(self) -> None:
        kernel = "dice" if self.level == "patient" else self.name
        if kernel not in KERNEL_METRICS:
            raise MetricInputError(f"metric '{self.name}': the scoring kernel computes {', '.join(KERNEL_METRICS)}")

    def with_options(self, empty: str | None = None) -> Metric:
        return self if empty is None else dataclasses.replace(self, empty=empty)

    def __call__(
        self, pred: object, ref: object, spacing: Spacing = None, *, empty: str | EmptyConvention | None = None
    ) -> float:
        pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
        if self.level == "patient":
            return float(dice_pp(pred, ref, empty=empty or self.empty))
        return score_one(self.name, pred, ref, spacing, empty or self.empty)

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


def score_one(name: str, pred: object, ref: object, spacing: Spacing, empty: str | EmptyConvention | None) -> float:
    """The kernel metric ``name`` of one 2D or 3D pair."""
    pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
    if pred.ndim not in (2, 3):
        raise MetricInputError(
            f"{name}: expected one 2D or 3D image, got shape {pred.shape} (use .batch for a stack of slices)"
        )
    return float(score_batch(pred[None], ref[None], (name,), spacing, empty, workers=1).values[name][0])


def dice(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Dice 2|P∩G|/(|P|+|G|) of one 2D or 3D pair (``spacing`` is accepted and ignored)."""
    return score_one("dice", pred, ref, spacing, empty)


def hd95(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """95th percentile (linear interpolation) of the pooled border distances, as medpy's ``hd95``."""
    return score_one("hd95", pred, ref, spacing, empty)


def hd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Hausdorff distance: maximum of the pooled border distances, as medpy's ``hd``."""
    return score_one("hd", pred, ref, spacing, empty)


def assd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Mean of the pooled border distances, as medpy 0.5's ``assd``."""
    return score_one("assd", pred, ref, spacing, empty)


def avd(pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default") -> float:
    """Average Hausdorff distance (Taha & Hanbury): max of the directed all-foreground-pixel means."""
    return score_one("avd", pred, ref, spacing, empty)


def avd_mean(
    pred: object, ref: object, spacing: Spacing = None, empty: str | EmptyConvention | None = "default"
) -> float:
    """Average Hausdorff distance as EvaluateSegmentation prints it: mean of the two directed means."""
    return score_one("avd_mean", pred, ref, spacing, empty)


def score_pairs(
    metrics: Mapping[str, MaskMetric],
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float] | None,
    empty: str,
    workers: int | None = None,
) -> tuple[dict[str, np.ndarray], BatchScores]:
    """Per-slice values of every pair-level metric (by registry name), and the empty-mask cases of the slices.

    The scoring kernel's own metrics (:class:`~pathogan_bench.metrics.Metric`) are scored together in one pass
    (they share the distance transforms); any other metric through its ``batch`` method.
    """
    kernel = {name: m for name, m in metrics.items() if isinstance(m, Metric) and m.level == "pair"}
    scores = score_batch(
        pred, ref, [m.name for m in kernel.values() if m.name in KERNEL_METRICS], spacing, empty, workers
    )
    values: dict[str, np.ndarray] = {}
    for name, metric in metrics.items():
        if metric.level != "pair":
            continue
        if name in kernel:
            values[name] = scores.values[metric.name]
        else:
            values[name] = np.asarray(metric.batch(pred, ref, spacing), dtype=np.float64)
    return values, scores
