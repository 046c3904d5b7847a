"""One voxel grid per case: images brought to one orientation, then their geometry compared.

The files of a case (its modalities, segmentation and brain mask) are stacked
voxel by voxel, so they must describe the same voxels. Each file is first
brought to the orientation of the case's reference image (its first
modality) from its affine, by reversing and permuting array axes with
:mod:`nibabel.orientations` (no resampling, no value changed): a file stored
in another order, with an affine that says so, lines up. What remains must
agree within the tolerances below, else the file is refused in one line
naming both files and the difference:

- voxel spacing: :data:`SPACING_RTOL` (relative, per axis);
- axis directions: :data:`DIRECTION_TOL_DEG` degrees (per axis);
- origin (the centre of the first voxel): :data:`ORIGIN_TOL_MM` mm.

An affine with a non-finite entry is refused. A singular one (no usable
geometry) is accepted only when it equals the reference's; it cannot be
compared or reoriented otherwise. The same rules pair a predicted label map
with its ground truth in ``pathogan-bench metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import UserError

#: largest relative difference of the voxel spacing along any axis
SPACING_RTOL = 1e-3
#: largest angle between corresponding voxel axes, in degrees
DIRECTION_TOL_DEG = 0.1
#: largest distance between the centres of the first voxels, in mm
ORIGIN_TOL_MM = 0.1
#: two affines this close (every entry, absolute) are the same
_SAME = 1e-6


def checked_affine(path: str | os.PathLike[str], affine: np.ndarray) -> np.ndarray:
    """``affine`` as a 4 x 4 float64 array; a non-finite one is a :class:`UserError` naming ``path``."""
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise UserError(f"{path}: the affine (voxel-to-world transform) is not finite; check the NIfTI header")
    return matrix


def _orientation(affine: np.ndarray) -> np.ndarray | None:
    """nibabel's axis orientation of ``affine``, or None when it has none (singular)."""
    import nibabel as nib

    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return None
    with np.errstate(all="ignore"):
        ornt = nib.orientations.io_orientation(affine)
    return None if np.isnan(ornt).any() else ornt


def reorient(data: np.ndarray, affine: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``data`` and its affine with the array axes of ``reference`` (reversed / permuted, never resampled).

    Returns ``data`` unchanged when it already has them, or when either
    affine is singular (then nothing can be said; :func:`check_geometry`
    decides).
    """
    import nibabel as nib

    data = np.asarray(data)
    if data.ndim != 3:
        return data, affine
    source, target = _orientation(affine), _orientation(reference)
    if source is None or target is None or np.array_equal(source, target):
        return data, affine
    transform = nib.orientations.ornt_transform(source, target)
    moved = nib.orientations.apply_orientation(data, transform)
    return np.ascontiguousarray(moved), affine @ nib.orientations.inv_ornt_aff(transform, data.shape)


def _mm(values: Sequence[float]) -> str:
    return " x ".join(f"{v:g}" for v in values) + " mm"


def geometry_difference(affine: np.ndarray, reference: np.ndarray) -> str | None:
    """How ``affine`` differs from ``reference`` beyond the tolerances (same axis order), or None."""
    if np.allclose(affine, reference, rtol=0, atol=_SAME):
        return None
    if _orientation(affine) is None or _orientation(reference) is None:
        return "a singular affine (no voxel geometry) that differs from the other's"
    columns, ref_columns = affine[:3, :3], reference[:3, :3]
    spacing, ref_spacing = np.linalg.norm(columns, axis=0), np.linalg.norm(ref_columns, axis=0)
    if (np.abs(spacing - ref_spacing) > SPACING_RTOL * ref_spacing).any():
        return (
            f"voxel spacing {_mm(np.round(spacing, 4))} vs {_mm(np.round(ref_spacing, 4))} "
            f"(tolerance {SPACING_RTOL:g} relative)"
        )
    cosines = np.clip(np.sum((columns / spacing) * (ref_columns / ref_spacing), axis=0), -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cosines)).max())
    if angle > DIRECTION_TOL_DEG:
        return f"axis direction differs by {angle:.3g} degrees (tolerance {DIRECTION_TOL_DEG:g} degrees)"
    shift = float(np.linalg.norm(affine[:3, 3] - reference[:3, 3]))
    if shift > ORIGIN_TOL_MM:
        return f"origin differs by {shift:.3g} mm (tolerance {ORIGIN_TOL_MM:g} mm)"
    return None


def align(
    path: str | os.PathLike[str],
    data: np.ndarray,
    affine: np.ndarray,
    reference_path: str | os.PathLike[str],
    reference_affine: np.ndarray,
    reference_shape: Sequence[int],
) -> np.ndarray:
    """``data`` of ``path`` on the voxel grid of the reference file, or a :class:`UserError` naming both.

    The data is brought to the reference's orientation; when its shape then
    differs, it is returned as it is for the caller's shape check (which
    names the shapes); otherwise its spacing, directions and origin must
    agree with the reference's within the module's tolerances.
    """
    affine = checked_affine(path, affine)
    reference_affine = checked_affine(reference_path, reference_affine)
    moved, moved_affine = reorient(data, affine, reference_affine)
    if tuple(moved.shape[:3]) != tuple(reference_shape[:3]):
        return data if tuple(data.shape[:3]) != tuple(moved.shape[:3]) else moved
    problem = geometry_difference(moved_affine, reference_affine)
    if problem is not None:
        raise UserError(f"{path}: {problem} from {reference_path}; the two files do not describe the same voxels")
    return moved
