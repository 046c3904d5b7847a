"""The metric contract: what a registered metric declares and computes, and the facts reports read from it.

A metric is either a score of masks (``input = "mask"``: Dice, HD95, ...) or a score of probability maps
(``input = "map"``: AUROC, AUPRC, ...). Every fact a report or comparison shows of a metric (its column label,
unit, direction, level and a note for the reader) is a typed attribute of the metric object, read once when a
run is planned and stored with the run's summary (:class:`MetricFacts`), so a report can be rendered later
without the plugin that made the metric.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

UNITS_SHOWN_AS_PERCENT = ("ratio",)


@runtime_checkable
class MaskMetric(Protocol):
    """A metric of boolean masks: ``metric(pred, ref, spacing) -> float`` for one pair, ``metric.batch(pred, ref,
    spacing) -> array`` for a stack (one value per item of axis 0). ``spacing``: the pixel size in mm, or None."""

    name: str
    #: the column header, e.g. "HD95"
    label: str
    description: str
    #: "ratio" (in [0, 1], shown in %), "distance" (in the units of the spacing: mm or px), or any unit shown as is
    unit: str
    higher_is_better: bool
    #: "pair" or "patient"
    level: str
    #: "mask"
    input: str
    #: one sentence a report adds under its table when the metric's name may mislead ("" for none)
    note: str

    def __call__(self, pred: Any, ref: Any, spacing: Any = None) -> float: ...

    def batch(self, pred: Any, ref: Any, spacing: Any = None) -> np.ndarray: ...


@runtime_checkable
class MapMetric(Protocol):
    """A metric of probability maps, pooled over a split's valid (brain) pixels: ``metric(prob, ref, valid)``."""

    name: str
    label: str
    description: str
    unit: str
    higher_is_better: bool
    #: "split"
    level: str
    #: "map"
    input: str
    note: str

    def __call__(self, prob: Any, ref: Any, valid: Any = None) -> float: ...


@dataclass(frozen=True)
class MetricFacts:
    """What reports and comparisons need to know of a metric, taken from it when the run was planned."""

    name: str
    input: str
    higher_is_better: bool
    unit: str
    level: str
    label: str
    note: str = ""

    @classmethod
    def of(cls, metric: MaskMetric | MapMetric) -> MetricFacts:
        return cls(
            metric.name,
            metric.input,
            bool(metric.higher_is_better),
            metric.unit,
            metric.level,
            metric.label,
            metric.note,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricFacts:
        return cls(
            **{k: data[k] for k in ("name", "input", "higher_is_better", "unit", "level", "label")},
            note=data.get("note", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_ratio(self) -> bool:
        return self.unit in UNITS_SHOWN_AS_PERCENT

    def column(self, distance_unit: str) -> str:
        if self.is_ratio:
            return f"{self.label} (%)"
        return f"{self.label} ({distance_unit if self.unit == 'distance' else self.unit})"

    def cell(self, value: float | None) -> str:
        """One value as tables show it."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{100 * value:.1f}" if self.is_ratio else f"{value:.2f}"
