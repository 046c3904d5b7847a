"""Per-patient volumetric scores: a patient's slices stacked into one 3D volume, scored as BraTS reports them.

The metrics are the built-in ones (same kernel, definitions and empty-mask
conventions as for slices), computed once per patient on the (H, W, D)
volume with the voxel size (sx, sy, sz) in mm, sz being the slice thickness.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from .batch import (
    TABLE1_METRICS,
    MetricInputError,
    _check_names,
    as_mask,
    default_workers,
    normalise_spacing,
    score_batch,
)
from .empty import CASE_NAMES, EmptyConvention, get_convention


def _slices(pred: object, ref: object) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
    if pred.shape != ref.shape:
        raise MetricInputError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    if pred.ndim != 3:
        raise MetricInputError(f"expected slices (N, H, W), got shape {pred.shape}")
    return pred, ref


def _indices(values: object, n: int, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise MetricInputError(f"{what} has shape {values.shape}, expected ({n},): one per slice")
    return values


def stack_patient(pred: object, ref: object, z: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One patient's slices ``pred[N,H,W]``, ``ref[N,H,W]`` at axial indices ``z`` as (H, W, D) volumes.

    ``z`` may come in any order and have gaps: D = max(z) − min(z) + 1,
    slice k lands at depth ``z[k] − min(z)``, and depths without a slice
    are empty in both volumes. A gap is scored as tumour-free, which splits
    a tumour running through it: score contiguous slices when distances
    matter. A repeated z raises :class:`MetricInputError`.
    """
    pred, ref = _slices(pred, ref)
    z = _indices(z, pred.shape[0], "z")
    if not np.issubdtype(z.dtype, np.integer):
        raise MetricInputError(f"z: expected integer slice indices, got {z.dtype}")
    if z.size == 0:
        raise MetricInputError("no slices to stack")
    values, counts = np.unique(z, return_counts=True)
    if (counts > 1).any():
        raise MetricInputError(f"z: slice indices repeat: {values[counts > 1][:5].tolist()}")
    depth = int(values[-1] - values[0]) + 1
    volumes = []
    for mask in (pred, ref):
        volume = np.zeros(mask.shape[1:] + (depth,), dtype=bool)
        volume[:, :, z - values[0]] = np.moveaxis(mask, 0, -1)
        volumes.append(volume)
    return volumes[0], volumes[1]


def _volume_spacing(spacing: Sequence[float]) -> tuple[float, ...]:
    if np.isscalar(spacing) or spacing is None or len(spacing) != 3:
        raise MetricInputError(
            f"spacing {spacing!r}: volumetric scores need the voxel size (sx, sy, sz) in mm, "
            "three numbers including the slice thickness sz"
        )
    return normalise_spacing(spacing, 3)


def volumetric_scores(
    pred: object,
    ref: object,
    patient: Sequence[str] | np.ndarray,
    z: Sequence[int] | np.ndarray,
    spacing: Sequence[float],
    metrics: Sequence[str] = TABLE1_METRICS,
    empty: str | EmptyConvention = "default",
    workers: int | None = None,
) -> pd.DataFrame:
    """Per-patient volumetric scores of slices ``pred[N,H,W]``, ``ref[N,H,W]`` of several patients.

    Each patient's slices (``patient``, ``z``: one per slice) are stacked
    by :func:`stack_patient` and every metric (built-in pair metrics:
    dice, hd95, hd, assd, avd, avd_mean) is computed on the 3D volume with
    ``spacing`` = (sx, sy, sz) in mm and the empty-mask convention
    ``empty``. One row per patient, in order of first appearance: patient,
    the metrics, ``case`` (the empty-mask case of the volume), ``pred_vox``,
    ``ref_vox``, ``slices`` (how many were given), ``pred_ml`` and
    ``ref_ml`` (voxels · sx·sy·sz / 1000). Patients are scored by
    ``workers`` threads (``None``: :func:`default_workers`).
    """
    pred, ref = _slices(pred, ref)
    n = pred.shape[0]
    patient, z = _indices(patient, n, "patient"), _indices(z, n, "z")
    steps = _volume_spacing(spacing)
    metrics = tuple(metrics)
    if "dice_pp" in metrics:
        raise MetricInputError("'dice_pp': the volumetric 'dice' is already the Dice of the patient's stacked slices")
    names = _check_names(metrics)
    get_convention(empty)
    ids, first, inverse = np.unique(patient, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rows = [np.flatnonzero(inverse.reshape(-1) == k) for k in order]

    def score(sel: np.ndarray) -> tuple[dict[str, float], str, int, int]:
        p, r = stack_patient(pred[sel], ref[sel], z[sel])
        scores = score_batch(p[None], r[None], names, steps, empty, workers=1)
        values = {m: float(scores.values[m][0]) for m in names}
        return values, CASE_NAMES[int(scores.case[0])], int(scores.pred_px[0]), int(scores.ref_px[0])

    workers = default_workers() if workers is None else max(1, int(workers))
    if workers == 1 or len(rows) <= 1:
        results = [score(sel) for sel in rows]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(score, rows))
    ml = steps[0] * steps[1] * steps[2] / 1000.0
    frame = pd.DataFrame({"patient": [str(ids[k]) for k in order]})
    for m in names:
        frame[m] = np.array([r[0][m] for r in results], dtype=np.float64)
    frame["case"] = [r[1] for r in results]
    frame["pred_vox"] = np.array([r[2] for r in results], dtype=np.int64)
    frame["ref_vox"] = np.array([r[3] for r in results], dtype=np.int64)
    frame["slices"] = np.array([len(sel) for sel in rows], dtype=np.int64)
    frame["pred_ml"] = frame["pred_vox"] * ml
    frame["ref_ml"] = frame["ref_vox"] * ml
    return frame
