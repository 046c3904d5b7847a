"""Showing NIfTI slices the way radiologists read them.

Slices in this project are arrays ``img[x, y]`` cut from ``volume[:, :, z]``
of a NIfTI volume, in the volume's storage order; where ``x`` and ``y`` point
in the patient depends on the volume's affine. :func:`to_display` turns such
a slice, or a stack ``[..., x, y]``, into the array to draw with ``imshow``
(row 0 at the top) in the radiological convention: anterior at the top and
the patient's left on the image's right, as if looking at the patient from
the feet. Only the view changes (a transpose and reversed axes); no value is
changed or resampled, and the result is a view of the input.

The direction of each array axis comes from the affine with
:func:`nibabel.aff2axcodes` (the closest of R/L, A/P, S/I, so slightly
oblique scans count as their nearest axes). Assumptions:

- An identity affine is taken at its word: RAS, ``x`` toward the patient's
  right and ``y`` toward anterior, which is how nibabel and NIfTI viewers
  read it.
- No affine (``None``) or an unusable one (not 4 x 4, not finite, singular)
  means the orientation is unknown. The slice is then assumed to be stored
  as every BraTS release and this project's synthetic data store it, LPS
  (``x`` toward the patient's left, ``y`` toward posterior), and
  :func:`orientation_label` says that it was assumed.
- When the third array axis is not inferior-superior, ``volume[:, :, z]``
  is a coronal or sagittal slice: it is shown with superior up, and either
  the patient's left on the image's right (coronal) or anterior on the
  image's left (sagittal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: axis codes assumed when a slice's affine is unknown (BraTS and the synthetic data store slices this way)
ASSUMED_CODES = ("L", "P", "S")

#: the figure note for axial slices in the radiological convention
RADIOLOGICAL = "radiological: patient left on image right, anterior up"

_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
_AXIS = {"L": "LR", "R": "LR", "A": "AP", "P": "AP", "S": "SI", "I": "SI"}
#: per view, the anatomical axes of (rows, columns) and the direction rows / columns increase toward on screen
_VIEWS = {
    frozenset({"LR", "AP"}): ("AP", "LR", "P", "L", RADIOLOGICAL),
    frozenset({"LR", "SI"}): ("SI", "LR", "I", "L", "coronal, radiological: patient left on image right, superior up"),
    frozenset({"AP", "SI"}): ("SI", "AP", "I", "P", "sagittal: anterior on image left, superior up"),
}


@dataclass(frozen=True)
class SliceView:
    """How to turn a slice ``[x, y]`` into a display array: transpose first, then reverse rows / columns."""

    transpose: bool
    flip_rows: bool
    flip_cols: bool
    codes: tuple[str, str, str]
    label: str
    assumed: bool = False
    #: the patient direction at the screen's bottom and right edges (e.g. "P", "L")
    bottom: str = "P"
    right: str = "L"

    @property
    def edges(self) -> dict[str, str]:
        """Patient direction at each screen edge, e.g. ``{"top": "A", "bottom": "P", "left": "R", "right": "L"}``."""
        return {
            "top": _OPPOSITE[self.bottom],
            "bottom": self.bottom,
            "left": _OPPOSITE[self.right],
            "right": self.right,
        }

    def apply(self, img: Any) -> np.ndarray:
        """The display view of a slice ``[x, y]`` or a stack ``[..., x, y]`` (no copy, values untouched)."""
        out = np.asarray(img)
        if out.ndim < 2:
            raise ValueError(f"a slice needs at least 2 dimensions, got shape {out.shape}")
        if self.transpose:
            out = np.swapaxes(out, -1, -2)
        if self.flip_rows:
            out = out[..., ::-1, :]
        if self.flip_cols:
            out = out[..., :, ::-1]
        return out


def axis_codes(affine: Any = None) -> tuple[tuple[str, str, str], bool]:
    """The axis codes of a volume (e.g. ``("L", "P", "S")``) and whether they were assumed (unknown affine)."""
    if affine is None:
        return ASSUMED_CODES, True
    try:
        matrix = np.asarray(affine, dtype=np.float64)
    except (TypeError, ValueError):
        return ASSUMED_CODES, True
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all() or abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        return ASSUMED_CODES, True
    import nibabel as nib

    codes = nib.aff2axcodes(matrix)
    if None in codes:
        return ASSUMED_CODES, True
    return tuple(str(c) for c in codes), False  # type: ignore[return-value]


def slice_view(affine: Any = None) -> SliceView:
    """The display transform of ``volume[:, :, z]`` slices of a volume with this affine."""
    codes, assumed = axis_codes(affine)
    in_plane = (_AXIS[codes[0]], _AXIS[codes[1]])
    rows_axis, cols_axis, rows_toward, cols_toward, label = _VIEWS[frozenset(in_plane)]
    transpose = in_plane[0] != rows_axis  # array axis 0 becomes the screen's rows unless transposed
    row_code, col_code = (codes[1], codes[0]) if transpose else (codes[0], codes[1])
    if assumed:
        label += " (no affine: BraTS LPS storage assumed)"
    return SliceView(
        transpose, row_code != rows_toward, col_code != cols_toward, codes, label, assumed, rows_toward, cols_toward
    )


def to_display(img: Any, affine: Any = None) -> np.ndarray:
    """A slice ``[x, y]`` (or a stack ``[..., x, y]``) as shown: anterior up, patient's left on the image's right."""
    return slice_view(affine).apply(img)


def orientation_label(affine: Any = None) -> str:
    """A short note for a figure, e.g. "radiological: patient left on image right, anterior up"."""
    return slice_view(affine).label


def figure_label(affines: Iterable[Any]) -> str:
    """One note for a figure of slices with these affines (the distinct labels, joined)."""
    labels = list(dict.fromkeys(orientation_label(a) for a in affines))
    return "; ".join(labels) if labels else orientation_label(None)
