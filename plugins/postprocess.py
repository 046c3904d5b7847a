"""Built-in post-processing steps (pathogan_bench.contracts.postprocess), registered like any plugin's: a 3D median
filter of the map (Behrendt et al. 2023: k = 5), erosion of the brain mask in the plane of each slice (the
reconstruction-error edge artefact, Meissen et al. 2022), and removal of 3D connected components (26-connectivity)
below a size in voxels or ml (Meissen et al. 2021, Kascenas et al. 2022)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pathogan_bench.plugin import PostprocessVolume as Volume
from pathogan_bench.plugin import Spec, hookimpl, label_components


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
        labels, n = label_components(array)
        if not n:
            return np.asarray(array, dtype=bool)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= self.min_voxels(volume)
        keep[0] = False
        return keep[labels]


@hookimpl
def register_postprocess_steps() -> list[Spec]:
    return [
        Spec("median", MedianFilter, "median:K: 3D median filter of the map, K x K x K voxels (default 5)"),
        Spec("erode-brain", ErodeBrain, "erode-brain:R: map set to 0 outside the brain eroded R pixels in-plane"),
        Spec(
            "min-component",
            MinComponent,
            "min-component:N or :Xml: remove 3D connected components below N voxels or X ml",
        ),
    ]
