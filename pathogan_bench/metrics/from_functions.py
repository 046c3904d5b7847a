"""Metrics made from plain functions: a mask metric from a function of one pair, a map metric from a function of
probability maps (or from a value of the shared threshold-free pass). Both meet their contracts
(pathogan_bench.contracts.metric) and are what a metric plugin usually registers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .threshold_free import ThresholdFree, threshold_free


@dataclass(frozen=True)
class PairScore:
    """A mask metric of one (pred, ref) pair: ``function(pred, ref, spacing) -> float``; ``batch`` scores each item
    of a stack with it."""

    name: str
    function: Callable[[np.ndarray, np.ndarray, Any], float]
    label: str = ""
    description: str = ""
    unit: str = "ratio"
    higher_is_better: bool = True
    level: str = "pair"
    input: str = "mask"
    note: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def with_options(self, empty: str | None = None) -> PairScore:
        return self

    def __call__(self, pred: Any, ref: Any, spacing: Any = None) -> float:
        return float(self.function(np.asarray(pred), np.asarray(ref), spacing))

    def batch(self, pred: Any, ref: Any, spacing: Any = None) -> np.ndarray:
        return np.asarray([self(p, r, spacing) for p, r in zip(pred, ref)], dtype=np.float64)


@dataclass(frozen=True)
class MapScore:
    """A score of probability maps, pooled over a split's valid (brain) pixels: ``metric(prob, ref, valid)``.

    ``field`` names the :class:`ThresholdFree` value it reads, so the built-in ones share one pass over the maps;
    a plugin map metric gives its own ``function(prob, ref, valid) -> float`` instead.
    """

    name: str
    description: str = ""
    higher_is_better: bool = True
    unit: str = "ratio"
    label: str = ""
    field: str = ""
    function: Callable[[Any, Any, Any], float] | None = None
    note: str = ""
    input: str = "map"
    level: str = "split"

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if not self.field and self.function is None:
            raise ValueError(f"map metric '{self.name}': give a function or a threshold-free field")

    def __call__(self, prob: Any, ref: Any, valid: Any = None) -> float:
        if self.function is not None:
            return float(self.function(prob, ref, valid))
        return float(getattr(threshold_free(prob, ref, valid), self.field))

    def from_scores(self, scores: ThresholdFree | dict[str, float]) -> float | None:
        """The value from already computed threshold-free scores, or None when it needs its own pass."""
        if not self.field or self.function is not None:
            return None
        values = scores if isinstance(scores, dict) else dataclasses.asdict(scores)
        return float(values[self.field]) if self.field in values else None
