"""Metrics by registry name: what a metric plugin provides, and scoring a stack of slices with any of them.

The built-in metrics register through the same hook as third-party ones
(``plugins/metrics.py``). Pair metrics that are built-in :class:`Metric`
objects are scored together in one pass over the slices (they share the
distance transforms); any other metric is scored through its own ``batch``
method, or slice by slice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import UserError
from .base import Metric
from .batch import PAIR_METRICS, BatchScores, score_batch
from .empty import get_convention
from .threshold_free import ThresholdFree, threshold_free

#: what a metric takes: boolean masks, or probability maps
MetricInput = Literal["mask", "map"]


@dataclass(frozen=True)
class MetricFacts:
    """What the registry says of a metric: its input, direction, unit and column label."""

    name: str
    input: MetricInput
    higher_is_better: bool
    #: "ratio" (shown in %), "distance" (mm or px), or any other unit shown as it is (e.g. "ml")
    unit: str
    #: "pair", "patient" (masks) or "split" (maps, pooled over a split's brain pixels)
    level: str
    label: str

    def column(self, distance_unit: str) -> str:
        if self.unit == "ratio":
            return f"{self.label} (%)"
        return f"{self.label} ({distance_unit if self.unit == 'distance' else self.unit})"

    def cell(self, value: float) -> str:
        """One value as tables show it."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{100 * value:.1f}" if self.unit == "ratio" else f"{value:.2f}"


@runtime_checkable
class MetricLike(Protocol):
    """What a registered metric provides (``batch`` is optional and used when present)."""

    name: str
    #: "pair": one value per slice or volume; "patient": one per patient, from its slices stacked
    level: str

    def __call__(self, pred: Any, ref: Any, spacing: Any = None) -> float: ...


@dataclass(frozen=True)
class MapMetric:
    """A score of probability maps, pooled over a split's valid (brain) pixels: ``metric(prob, ref, valid)``.

    ``field`` names the :class:`ThresholdFree` value it reads, so the three built-in ones share one pass over
    the maps; a plugin map metric gives its own ``function(prob, ref, valid) -> float`` instead.
    """

    name: str
    description: str
    higher_is_better: bool = True
    unit: str = "ratio"
    label: str = ""
    field: str = ""
    function: Any = None
    input: str = "map"
    level: str = "split"

    def __call__(self, prob: Any, ref: Any, valid: Any = None) -> float:
        if self.function is not None:
            return float(self.function(prob, ref, valid))
        return float(getattr(threshold_free(prob, ref, valid), self.field))

    def from_scores(self, scores: ThresholdFree) -> float | None:
        """The value from already computed threshold-free scores, or None when it needs its own pass."""
        return float(getattr(scores, self.field)) if self.field and self.function is None else None


MAP_METRICS: dict[str, MapMetric] = {
    m.name: m
    for m in (
        MapMetric("auroc", "pixel AUROC of the probability map inside the brain", label="AUROC", field="auroc"),
        MapMetric("auprc", "pixel average precision (AUPRC) inside the brain", label="AUPRC", field="auprc"),
        MapMetric(
            "best_dice",
            "Dice at the best threshold, chosen on the scored pixels themselves (optimistic)",
            label="best-threshold Dice",
            field="best_dice",
        ),
    )
}

_LABELS = {
    "dice": "Dice",
    "dice_pp": "Dice PP",
    "hd95": "HD95",
    "hd": "HD",
    "assd": "ASSD",
    "avd": "AVD",
    "avd_mean": "AVD (mean)",
}


def metric_facts(registry: Any, name: str) -> MetricFacts:
    """The typed facts of the registered metric ``name``, read from the metric it creates."""
    metric = create_metric(registry, name)
    kind = getattr(metric, "input", "mask")
    if kind not in ("mask", "map"):
        raise UserError(f"metric '{name}': input must be 'mask' or 'map', got {kind!r}")
    return MetricFacts(
        name,
        "map" if kind == "map" else "mask",
        bool(getattr(metric, "higher_is_better", True)),
        str(getattr(metric, "unit", "ratio")),
        str(getattr(metric, "level", "split" if kind == "map" else "pair")),
        str(getattr(metric, "label", "") or _LABELS.get(name, name)),
    )


def split_metric_names(registry: Any, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """(mask metrics, map metrics) of ``names``, in their order."""
    masks: list[str] = []
    maps: list[str] = []
    for name in names:
        (maps if metric_facts(registry, name).input == "map" else masks).append(name)
    return masks, maps


def create_metric(registry: Any, name: str, empty: str = "default") -> MetricLike:
    """The metric ``name`` with the empty-mask convention ``empty`` (if its factory takes one)."""
    try:
        return registry.create("metric", name, empty=empty)
    except TypeError:  # a plugin metric without an empty-mask option
        return registry.create("metric", name)


def check_metric_names(registry: Any, names: Iterable[str], empty: str = "default") -> None:
    """Fail on an unknown metric or convention before anything is computed."""
    try:
        get_convention(empty)
    except Exception as exc:
        raise UserError(f"eval.empty = {empty!r}: {exc}") from None
    for name in names:
        registry.get("metric", name)


def _fast(metric: Any) -> bool:
    return isinstance(metric, Metric) and metric.level == "pair" and metric.name in PAIR_METRICS


def score_pairs(
    metrics: Mapping[str, Any],
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float] | None,
    empty: str,
    workers: int | None = None,
) -> tuple[dict[str, np.ndarray], BatchScores]:
    """Per-slice values of every pair-level metric (by registry name), and the empty-mask cases of the slices."""
    fast = {name: m for name, m in metrics.items() if _fast(m)}
    scores = score_batch(pred, ref, [m.name for m in fast.values()], spacing, empty, workers)
    values: dict[str, np.ndarray] = {}
    for name, metric in metrics.items():
        if getattr(metric, "level", "pair") != "pair":
            continue
        if name in fast:
            values[name] = scores.values[metric.name]
        elif hasattr(metric, "batch"):
            values[name] = np.asarray(metric.batch(pred, ref, spacing), dtype=np.float64)
        else:
            values[name] = np.asarray([float(metric(pred[i], ref[i], spacing)) for i in range(len(pred))])
    return values, scores
