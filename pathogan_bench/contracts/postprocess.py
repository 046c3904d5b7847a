"""The post-processing contract: a step applied per patient volume, to the probability map or to the mask.

A step is named in ``[eval] postprocess`` or ``--postprocess`` as ``NAME`` or ``NAME:ARGUMENT`` (``median:5``,
``min-component:0.1ml``) and applied in the order given; its factory is called with the argument when there is
one. Its ``stage`` says where it acts: ``"map"`` on the (Z, H, W) probability map of one patient's slices
stacked, before any threshold (the threshold policies are fitted on maps processed the same way); ``"mask"`` on
the boolean mask of one patient after thresholding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

STAGES = ("map", "mask")


@dataclass(frozen=True)
class Volume:
    """What a step may read of one patient: the brain (Z, H, W) and the voxel size (mm, z last)."""

    brain: np.ndarray
    #: (in-plane y, in-plane x, slice thickness) in mm; 1 where unknown
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0


@runtime_checkable
class PostprocessStep(Protocol):
    """A post-processing step: ``step(array, volume) -> array`` of the same shape."""

    #: "map" (float map, before thresholding) or "mask" (bool mask, after)
    stage: str
    #: the step as written in configs and reports, e.g. "median:5"
    label: str

    def __call__(self, array: np.ndarray, volume: Volume) -> np.ndarray: ...
