"""Metrics by registry name: what a metric plugin provides, and scoring a stack of slices with any of them.

The built-in metrics register through the same hook as third-party ones
(``plugins/metrics.py``). Pair metrics that are built-in :class:`Metric`
objects are scored together in one pass over the slices (they share the
distance transforms); any other metric is scored through its own ``batch``
method, or slice by slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import UserError
from .base import Metric
from .batch import PAIR_METRICS, BatchScores, score_batch
from .empty import get_convention


@runtime_checkable
class MetricLike(Protocol):
    """What a registered metric provides (``batch`` is optional and used when present)."""

    name: str
    #: "pair": one value per slice or volume; "patient": one per patient, from its slices stacked
    level: str

    def __call__(self, pred: Any, ref: Any, spacing: Any = None) -> float: ...


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
