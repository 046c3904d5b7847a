"""Intensity normalisation of one volume inside its brain mask, and the check that a modality has contrast."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import UserError

#: brain intensities are winsorised to these quantiles before their mean and std are estimated
ROBUST_QUANTILES = (0.001, 0.999)


def robust_statistics(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (float64) of ``values`` winsorised to :data:`ROBUST_QUANTILES`.

    The quantiles are taken inwards (the next value inside), so even a
    handful of values always has its extremes clipped. When the winsorised
    values are constant the plain standard deviation is used, and 1 when
    that is 0 too.
    """
    values = np.asarray(values, dtype=np.float64)
    lo = np.quantile(values, ROBUST_QUANTILES[0], method="higher")
    hi = np.quantile(values, ROBUST_QUANTILES[1], method="lower")
    if lo > hi:  # fewer than three values
        lo, hi = values.min(), values.max()
    winsorised = np.clip(values, lo, hi)
    mean, scale = float(winsorised.mean()), float(winsorised.std())
    if not scale > 0:
        scale = float(values.std())
    return mean, scale if scale > 0 and math.isfinite(scale) else 1.0


def normalise_volume(
    volume: np.ndarray,
    brain: np.ndarray,
    std: float = 1 / 3,
    clip: float = 1.0,
    name: str | os.PathLike[str] = "volume",
) -> np.ndarray:
    """Brain voxels to zero mean and standard deviation ``std``, clipped; background to -clip.

    Computed in float64 with outlier-robust statistics (see the module
    docstring); returns float32. Non-finite input, a brain mask of another
    shape, or a non-finite result is a :class:`UserError` naming ``name``.
    """
    volume = np.asarray(volume)
    brain = np.asarray(brain, dtype=bool)
    if brain.shape != volume.shape:
        raise UserError(f"{name}: brain mask shape {brain.shape} differs from the image {volume.shape}")
    if not np.isfinite(volume).all():
        raise UserError(f"{name}: contains NaN or infinite values; nothing normalised")
    out = np.full(volume.shape, -clip, dtype=np.float32)
    values = volume[brain].astype(np.float64)
    if values.size:
        mean, scale = robust_statistics(values)
        normalised = np.clip((values - mean) * (std / scale), -clip, clip)
        if not np.isfinite(normalised).all():
            raise UserError(f"{name}: normalisation gave non-finite values (mean {mean:g}, std {scale:g})")
        out[brain] = normalised
    return out


def check_not_constant(
    stack: np.ndarray, brain: np.ndarray, paths: list[Path], brain_mask: Path | None = None, hint: str | None = None
) -> None:
    """Refuse a modality that is constant inside the brain (all zeros included): it would become a flat channel."""
    if not brain.any():
        where = f"{brain_mask}: the brain mask is empty" if brain_mask else f"{paths[0]}: constant, every voxel is 0"
        raise UserError(f"{where} (no brain voxels in any modality); {hint or SKIP_HINT}")
    for path, volume in zip(paths, stack):
        values = volume[brain]
        low, high = values.min(), values.max()
        if low == high:
            raise UserError(
                f"{path}: constant inside the brain (all {values.size} brain voxels are {float(low):g}), "
                f"a channel without contrast; {hint or SKIP_HINT}"
            )


#: how a dataset with such a case can still be used
SKIP_HINT = "check the file, or leave such cases out with [data] skip_bad_cases = true (listed in run.json)"
