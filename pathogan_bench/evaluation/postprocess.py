"""Post-processing of a patient's maps and masks, applied per patient volume before scoring.

A step is a registry component (kind ``postprocess``) named in
``[eval] postprocess`` or ``--postprocess`` as ``NAME`` or ``NAME:ARGUMENT``
(``median:5``, ``min-component:0.1ml``, ``erode-brain:3``), applied in the
order given. A step's ``stage`` says where it acts:

- ``"map"``: on the probability map of one patient's slices stacked
  (Z, H, W), before any threshold; the threshold policies are fitted on maps
  processed the same way;
- ``"mask"``: on the binary mask of one patient after thresholding.

Built-in steps (``plugins/postprocess.py``): a 3D median filter of the map
(Behrendt et al. 2023: k = 5), erosion of the brain mask in the plane of
each slice (the reconstruction-error edge artefact, Meissen et al. 2022), and
removal of 3D connected components (26-connectivity) below a size in voxels
or ml (Meissen et al. 2021, Kascenas et al. 2022).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import ndimage

from ..errors import UserError

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


def parse_step(text: str) -> tuple[str, str | None]:
    """``"median:5"`` -> ("median", "5"); ``"median"`` -> ("median", None)."""
    name, sep, argument = str(text).strip().partition(":")
    if not name:
        raise UserError(f"post-processing step {text!r}: expected NAME or NAME:ARGUMENT")
    return name, (argument.strip() if sep else None)


def create_steps(registry: Any, names: Sequence[str]) -> list[PostprocessStep]:
    """The configured steps, in order; an unknown name or a bad argument raises :class:`UserError`."""
    steps = []
    for text in names:
        name, argument = parse_step(text)
        try:
            step = (
                registry.create("postprocess", name, argument)
                if argument is not None
                else registry.create("postprocess", name)
            )
        except (TypeError, ValueError) as exc:
            raise UserError(f"post-processing step {text!r}: {exc}") from None
        if getattr(step, "stage", None) not in STAGES:
            raise UserError(f"post-processing step {text!r}: stage must be one of {STAGES}")
        steps.append(step)
    return steps


def chain_label(steps: Sequence[PostprocessStep]) -> str:
    return " + ".join(step.label for step in steps) if steps else "none"


def apply_stage(steps: Sequence[PostprocessStep], stage: str, array: np.ndarray, volume: Volume) -> np.ndarray:
    for step in steps:
        if step.stage == stage:
            array = step(array, volume)
    return array


# -- built-in steps ---------------------------------------------------------------------------------------------------


def _positive_int(argument: str | None, default: int, what: str) -> int:
    try:
        value = int(argument) if argument is not None else default
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {argument!r}") from None
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


class MedianFilter:
    """3D median filter of the map (kernel k x k x k voxels, scipy's ``median_filter``, mode "reflect"); 0 outside the brain."""

    stage = "map"

    def __init__(self, size: str | None = None):
        self.size = _positive_int(size, 5, "median kernel size")
        self.label = f"median:{self.size}"

    def __call__(self, array: np.ndarray, volume: Volume) -> np.ndarray:
        out = ndimage.median_filter(np.asarray(array, dtype=np.float32), size=self.size, mode="reflect")
        return np.where(volume.brain, out, 0).astype(array.dtype, copy=False)


class ErodeBrain:
    """Map set to 0 outside the brain mask eroded by r pixels in the plane of each slice (4-connected cross)."""

    stage = "map"

    def __init__(self, radius: str | None = None):
        self.radius = _positive_int(radius, 3, "erosion radius")
        self.label = f"erode-brain:{self.radius}"

    def __call__(self, array: np.ndarray, volume: Volume) -> np.ndarray:
        eroded = erode_in_plane(volume.brain, self.radius)
        return np.where(eroded, array, 0).astype(array.dtype, copy=False)


def erode_in_plane(brain: np.ndarray, radius: int) -> np.ndarray:
    """Each slice of a (Z, H, W) mask eroded ``radius`` times by the 2D cross (nothing across slices)."""
    structure = ndimage.generate_binary_structure(2, 1)[None]
    return ndimage.binary_erosion(np.asarray(brain, dtype=bool), structure=structure, iterations=radius)


class MinComponent:
    """Removes 3D connected components (26-connectivity) smaller than a size: ``N`` voxels or ``Xml``."""

    stage = "mask"

    def __init__(self, size: str | None = None):
        text = (size or "10").strip().lower()
        try:
            if text.endswith("ml"):
                self.ml: float | None = float(text[:-2])
                self.voxels = 0
            else:
                self.ml, self.voxels = None, int(text)
        except ValueError:
            raise ValueError(
                f"component size must be a number of voxels or of ml (e.g. 20 or 0.1ml), got {size!r}"
            ) from None
        if (self.ml if self.ml is not None else self.voxels) <= 0:
            raise ValueError(f"component size must be positive, got {size!r}")
        self.label = f"min-component:{text}"

    def min_voxels(self, volume: Volume) -> float:
        return self.ml / volume.voxel_ml if self.ml is not None else float(self.voxels)

    def __call__(self, array: np.ndarray, volume: Volume) -> np.ndarray:
        from ..metrics.lesionwise import label_components

        labels, n = label_components(array)
        if not n:
            return np.asarray(array, dtype=bool)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= self.min_voxels(volume)
        keep[0] = False
        return keep[labels]
