"""The threshold-policy contract: a rule that turns probability maps into masks and says what data it looked at.

A policy is named in ``[eval] policies`` or ``--policies`` as ``NAME`` or ``NAME:ARGUMENT`` (``fpr:1``); its
factory is called with the argument when there is one. It returns one threshold for the whole split, or one per
slice; a pixel is flagged when ``prob >= threshold``, as everywhere else in pathogan-bench.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class MapSet:
    """Probability maps of some slices and what a policy may read of them (each (N, H, W) or (N,))."""

    prob: np.ndarray
    ref: np.ndarray
    brain: np.ndarray
    domain: np.ndarray

    def __len__(self) -> int:
        return len(self.prob)


@dataclass(frozen=True)
class PolicyData:
    """Everything a policy may look at; each policy states which parts it used."""

    #: the model's own threshold on its calibrated map
    model_threshold: float
    #: the maps being scored (after the map post-processing)
    scored: MapSet
    #: maps of the validation patients (or the training ones), processed the same way; None when there are none
    calibration: MapSet | None = None
    #: "validation" or "training": whose maps ``calibration`` holds
    calibration_patients: str = "validation"


@runtime_checkable
class ThresholdPolicy(Protocol):
    """What a registered threshold policy provides."""

    #: the policy as written in configs and reports, e.g. "fpr:1"
    label: str
    #: True when it reads the pixel labels of the scored patients (an upper bound, not a result)
    optimistic: bool
    #: True when it reads maps of the validation (or training) patients (``PolicyData.calibration``): the run then
    #: segments those patients too and keeps their maps in calibration.npz
    needs_calibration: bool

    def looks_at(self, data: PolicyData) -> str:
        """One line: which data (and which labels) the threshold was fitted on."""
        ...

    def thresholds(self, data: PolicyData) -> float | np.ndarray:
        """One threshold, or one per scored slice ((N,) array); NaN when the data it needs is missing."""
        ...
