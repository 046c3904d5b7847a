"""The scoring kernel: pixel counts and exact surface distances of mask pairs.

Distances come from scipy's exact Euclidean feature transform, computed on
the pair's union bounding box only. The crop is exact: every pixel a
distance is measured to lies inside the box, and pixels outside the box are
background, which is also what the border extraction assumes at the image
edge (medpy's ``binary_erosion`` with ``border_value=0``).

Two feature transforms per pair serve all distance metrics. The transform
towards the reference *border* gives, at each prediction pixel, both the
surface distance (for HD95, HD, ASSD) and, for pixels outside the
reference, the distance to the reference mask itself (for AVD): the nearest
reference pixel to a point outside the mask is always a border pixel.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from scipy import ndimage

from .empty import NO_OVERLAP, NORMAL, classify

#: slice-level distance metrics computed by the kernel
DISTANCE_METRICS = ("hd95", "hd", "assd", "avd", "avd_mean")
SURFACE_METRICS = frozenset({"hd95", "hd", "assd"})
REGION_METRICS = frozenset({"avd", "avd_mean"})


def border(mask: np.ndarray) -> np.ndarray:
    """Mask minus its erosion by the axis-aligned cross (4-connected in 2D, 6 in 3D).

    Pixels outside the array count as background, so foreground pixels on
    the array's edge are border pixels.
    """
    interior = np.zeros_like(mask)
    if min(mask.shape) >= 3:
        core = (slice(1, -1),) * mask.ndim
        inner = mask[core].copy()
        for axis in range(mask.ndim):
            for offset in (0, 2):
                shifted = list(core)
                shifted[axis] = slice(offset, mask.shape[axis] - 2 + offset)
                inner &= mask[tuple(shifted)]
        interior[core] = inner
    return mask ^ interior


def percentile_linear(values: np.ndarray, q: float) -> float:
    """``numpy.percentile(values, q)`` (linear interpolation), bit for bit, without its overhead."""
    n = values.size
    virtual = (n - 1) * (q / 100)
    lo = int(np.floor(virtual))
    if virtual >= n - 1:
        return float(values.max())
    part = np.partition(values, (lo, lo + 1))
    below, above = part[lo], part[lo + 1]
    gamma = virtual - lo
    diff = above - below
    # numpy's _lerp: interpolate from the nearer end
    return float(above - diff * (1 - gamma)) if gamma >= 0.5 else float(below + diff * gamma)


def _distances_at(targets: np.ndarray, points: tuple[np.ndarray, ...], spacing: tuple[float, ...]) -> np.ndarray:
    """Exact Euclidean distance from each of ``points`` to the nearest ``True`` pixel of ``targets``.

    Evaluated only at the points, in the same arithmetic order as
    ``scipy.ndimage.distance_transform_edt`` (so values are bit-identical).
    """
    ft = ndimage.distance_transform_edt(~targets, sampling=spacing, return_distances=False, return_indices=True)
    total = None
    for axis, step in enumerate(spacing):
        diff = (ft[axis][points] - points[axis]).astype(np.float64)
        if step != 1.0:
            diff *= step
        diff *= diff
        total = diff if total is None else total + diff
    assert total is not None  # one spacing entry per image axis
    return np.sqrt(total)


def pair_distances(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], wanted: frozenset[str]
) -> dict[str, float]:
    """Distance metrics of one pair of non-empty masks, already cropped to their union box."""
    pred_border, ref_border = border(pred), border(ref)
    pred_points, ref_points = np.nonzero(pred), np.nonzero(ref)
    # distance from every prediction pixel to the reference border, and back
    d_pred = _distances_at(ref_border, pred_points, spacing)
    d_ref = _distances_at(pred_border, ref_points, spacing)
    out: dict[str, float] = {}
    if wanted & SURFACE_METRICS:
        pooled = np.concatenate([d_pred[pred_border[pred_points]], d_ref[ref_border[ref_points]]])
        if "hd95" in wanted:
            out["hd95"] = percentile_linear(pooled, 95)
        if "hd" in wanted:
            out["hd"] = float(pooled.max())
        if "assd" in wanted:
            out["assd"] = float(pooled.mean())
    if wanted & REGION_METRICS:
        # pixels inside the other mask are at distance 0
        to_ref = float(d_pred[~ref[pred_points]].sum()) / d_pred.size
        to_pred = float(d_ref[~pred[ref_points]].sum()) / d_ref.size
        if "avd" in wanted:
            out["avd"] = max(to_ref, to_pred)
        if "avd_mean" in wanted:
            out["avd_mean"] = (to_ref + to_pred) / 2.0
    return out


def _bounding_boxes(union: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item of a batch (axis 0), the first and last index of the union along each image axis."""
    n, ndim = union.shape[0], union.ndim - 1
    first = np.zeros((n, ndim), dtype=np.intp)
    last = np.zeros((n, ndim), dtype=np.intp)
    for axis in range(ndim):
        others = tuple(1 + a for a in range(ndim) if a != axis)
        profile = cast(np.ndarray, union.any(axis=others)) if others else union
        size = profile.shape[1]
        first[:, axis] = profile.argmax(axis=1)
        last[:, axis] = size - 1 - profile[:, ::-1].argmax(axis=1)
    return first, last


def pixel_counts(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foreground pixels of prediction, reference and their intersection, per item (axis 0)."""
    # count_nonzero over a whole contiguous item is a popcount, far faster than a reduction over an axis
    n = pred.shape[0]
    counts = np.empty((3, n), dtype=np.int64)
    for i in range(n):
        p, r = pred[i], ref[i]
        counts[0, i] = np.count_nonzero(p)
        counts[1, i] = np.count_nonzero(r)
        counts[2, i] = np.count_nonzero(p & r) if counts[0, i] and counts[1, i] else 0
    return counts[0], counts[1], counts[2]


def score_chunk(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], distance_metrics: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Counts, cases and the raw distance metrics of a batch (axis 0 = items).

    Distances are NaN where a mask is empty; the caller applies the
    empty-mask convention.
    """
    n = pred.shape[0]
    pred_px, ref_px, overlap_px = pixel_counts(pred, ref)
    case = classify(pred_px, ref_px, overlap_px)
    out = {"pred_px": pred_px, "ref_px": ref_px, "overlap_px": overlap_px, "case": case}
    for name in distance_metrics:
        out[name] = np.full(n, np.nan)
    both = np.flatnonzero((case == NORMAL) | (case == NO_OVERLAP))
    if distance_metrics and len(both):
        wanted = frozenset(distance_metrics)
        first, last = _bounding_boxes(pred[both] | ref[both])
        for j, i in enumerate(both):
            box = tuple(slice(a, b + 1) for a, b in zip(first[j], last[j]))
            values = pair_distances(pred[i][box], ref[i][box], spacing, wanted)
            for name in distance_metrics:
                out[name][i] = values[name]
    return out
