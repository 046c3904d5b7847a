"""MetaImage (``.mha``/``.mhd``) and NRRD volumes, the format of the BraTS 2012-2015 releases, read with SimpleITK.

SimpleITK is an optional extra (``pip install 'pathogan-bench[mha]'``); without it reading such a file stops
with one line saying how to install it. ITK stores geometry in LPS (x to the patient's left, y to the back);
NIfTI, and everything downstream here, in RAS: the affine is flipped in x and y so that a volume read from
``.mha`` and the same volume converted to NIfTI describe the same voxels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError

#: file endings read through SimpleITK
ITK_ENDINGS = (".mha", ".mhd", ".nrrd")
INSTALL_HINT = "pip install 'pathogan-bench[mha]' (SimpleITK)"
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def is_itk_image(path: Path) -> bool:
    return path.name.lower().endswith(ITK_ENDINGS)


def require_simpleitk(path: Path):  # noqa: ANN201 - the module, whose stubs are optional
    """The SimpleITK module, or a one-line error naming ``path`` and how to install it."""
    try:
        import SimpleITK as sitk
    except ImportError:
        raise UserError(f"{path}: reading {path.suffix} images needs SimpleITK: {INSTALL_HINT}") from None
    return sitk


def read_itk_image(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A 3D (or 4D vector) ITK image as float32 (X, Y, Z[, C]) with its RAS affine and voxel size."""
    sitk = require_simpleitk(path)
    if not path.exists():
        raise UserError(f"{path}: file not found")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "ERROR" in line or "error" in line), first[-1] if first else "")
        raise UserError(f"{path}: not a readable image ({detail.strip()[:120]})") from None
    if image.GetDimension() != 3:
        raise UserError(f"{path}: expected a 3D volume, got {image.GetDimension()}D")
    pixel = image.GetPixelIDTypeAsString()
    if "complex" in pixel.lower():
        raise UserError(f"{path}: complex-valued image ({pixel}); expected real intensities")
    with np.errstate(over="ignore", invalid="ignore"):
        array = sitk.GetArrayFromImage(image).astype(np.float32)  # (Z, Y, X[, C])
    data = np.ascontiguousarray(np.moveaxis(array, (0, 1, 2), (2, 1, 0)))
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ direction @ np.diag(spacing)
    affine[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin(), dtype=np.float64)
    zooms = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    return data, affine, zooms
