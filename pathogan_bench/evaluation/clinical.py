"""Scores beyond the paper's Table 1: what a clinician would see of a whole scan.

Table 1 scores pathological slices only (more than 20 tumour pixels), so
healthy slices and tumour-free patients never count. Over *every* labelled
slice of a split (healthy, pathological and the few in between) this module
adds:

- volumetric scores per patient (3D Dice, HD95, AVD over the evaluated
  slab, with the voxel spacing including the slice thickness), as BraTS
  reports them;
- false positives: healthy slices with any detection, false-positive
  volume on healthy slices, and the volume predicted in tumour-free
  patients;
- threshold-free scores of the probability maps inside the brain (pixel
  AUROC, AUPRC, and the Dice at the best threshold, optimistic by design).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from ..data.slices import HEALTHY, PATHOLOGICAL
from ..metrics import ThresholdFree, threshold_free, volumetric_scores

VOLUME_METRICS = ("dice", "hd95", "avd")


@dataclass
class ClinicalScores:
    """Per split: volumetric scores per patient, false positives and threshold-free scores."""

    volumes: pd.DataFrame
    #: split -> false-positive facts (see :func:`false_positives`)
    detection: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: split -> auroc, auprc, best_dice, best_threshold, positives, pixels
    threshold_free: dict[str, dict[str, float]] = field(default_factory=dict)
    #: split -> slices scored per domain, patients, and the axial range
    scope: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: why a part was not computed
    notes: list[str] = field(default_factory=list)


def slice_thickness(affine: np.ndarray | None) -> float | None:
    """Spacing between axial slices (mm): the length of the affine's third column."""
    if affine is None:
        return None
    value = float(np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, 2]))
    return value if np.isfinite(value) and value > 0 else None


def _thickness_per_patient(arrays: dict[str, np.ndarray]) -> dict[str, float | None]:
    affine = arrays.get("affine")
    patients = arrays["patient"].astype(str)
    out: dict[str, float | None] = {}
    for patient in dict.fromkeys(patients.tolist()):
        row = int(np.flatnonzero(patients == patient)[0])
        out[patient] = slice_thickness(affine[row]) if affine is not None else None
    return out


def clinical_scores(
    arrays: dict[str, np.ndarray], spacing: Sequence[float] | None, empty: str = "default", workers: int | None = None
) -> ClinicalScores:
    """Volumetric, false-positive and threshold-free scores of a run's predictions, per split."""
    prob, ref = arrays["prob"], arrays["mask"].astype(bool, copy=False)
    pred = prob >= np.float64(arrays["threshold"])
    patient, z, split = arrays["patient"].astype(str), arrays["z"].astype(np.int64), arrays["split"].astype(str)
    domain = arrays.get("domain")
    domain = np.full(len(prob), PATHOLOGICAL, np.int8) if domain is None else domain
    brain = arrays.get("brain")
    in_plane = tuple(float(s) for s in spacing) if spacing is not None else (1.0, 1.0)
    result = ClinicalScores(pd.DataFrame())
    if "domain" not in arrays:
        result.notes.append(
            "predictions hold pathological slices only (written by an older version): "
            "no false positives on healthy slices"
        )
    if brain is None:
        result.notes.append(
            "predictions keep no brain mask (written by an older version): threshold-free scores over the whole image"
        )
    thickness = _thickness_per_patient(arrays)
    frames = []
    for name in dict.fromkeys(split.tolist()):
        rows = np.flatnonzero(split == name)
        result.scope[name] = _scope(domain[rows], patient[rows], z[rows])
        volumes = _volumes(
            pred[rows], ref[rows], patient[rows], z[rows], name, in_plane, thickness, empty, workers, result.notes
        )
        frames.append(
            _with_map_scores(volumes, prob[rows], ref[rows], brain[rows] if brain is not None else None, patient[rows])
        )
        result.detection[name] = false_positives(
            pred[rows], ref[rows], domain[rows], patient[rows], in_plane, thickness
        )
        scores = threshold_free(prob[rows], ref[rows], brain[rows] if brain is not None else None)
        result.threshold_free[name] = {k: float(v) for k, v in vars(scores).items()}
    result.volumes = (
        pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame()
    )
    return result


def _with_map_scores(
    volumes: pd.DataFrame, prob: np.ndarray, ref: np.ndarray, brain: np.ndarray | None, patient: np.ndarray
) -> pd.DataFrame:
    """Each patient's pixel AUROC and AUPRC over its own brain pixels, beside its 3D scores (NaN without tumour)."""
    if not len(volumes):
        return volumes
    scores = {
        pid: threshold_free(prob[rows], ref[rows], brain[rows] if brain is not None else None)
        for pid in volumes["patient"]
        if (rows := patient == pid).any()
    }
    missing = ThresholdFree(math.nan, math.nan, math.nan, math.nan, 0, 0)
    return volumes.assign(
        auroc=[scores.get(pid, missing).auroc for pid in volumes["patient"]],
        auprc=[scores.get(pid, missing).auprc for pid in volumes["patient"]],
    )


def _scope(domain: np.ndarray, patient: np.ndarray, z: np.ndarray) -> dict[str, Any]:
    return {
        "healthy": int((domain == HEALTHY).sum()),
        "pathological": int((domain == PATHOLOGICAL).sum()),
        "minor": int(((domain != HEALTHY) & (domain != PATHOLOGICAL)).sum()),
        "patients": len(set(patient)),
        "z": [int(z.min()), int(z.max())] if len(z) else [],
    }


def _volumes(
    pred: np.ndarray,
    ref: np.ndarray,
    patient: np.ndarray,
    z: np.ndarray,
    split: str,
    in_plane: tuple[float, ...],
    thickness: dict[str, float | None],
    empty: str,
    workers: int | None,
    notes: list[str],
) -> pd.DataFrame:
    frames, unknown = [], []
    for pid in dict.fromkeys(patient.tolist()):
        rows = patient == pid
        depth = thickness.get(pid)
        if depth is None:
            unknown.append(pid)
            continue
        frames.append(
            volumetric_scores(
                pred[rows], ref[rows], patient[rows], z[rows], in_plane + (depth,), VOLUME_METRICS, empty, workers
            )
        )
    if unknown:
        notes.append(
            f"{split}: no slice thickness known for {len(unknown)} patient(s) (predictions keep no affine); "
            "no volumetric scores for them"
        )
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    table.insert(1, "split", split)
    return table


def false_positives(
    pred: np.ndarray,
    ref: np.ndarray,
    domain: np.ndarray,
    patient: np.ndarray,
    in_plane: Sequence[float],
    thickness: dict[str, float | None],
) -> dict[str, Any]:
    """False detections of one split.

    ``healthy_slices_with_detection``: healthy slices (no tumour pixel) with
    any predicted pixel; ``fp_ml_healthy``: the volume predicted on a
    patient's healthy slices, per patient; ``fp_ml``: the volume predicted
    outside the reference over all of a patient's slices; ``tumour_free``:
    the volume predicted in each patient without any tumour pixel.
    """
    area = float(np.prod(in_plane))
    healthy = domain == HEALTHY
    detected = cast(np.ndarray, pred.reshape(len(pred), -1).any(axis=1))
    outside = (pred & ~ref).reshape(len(pred), -1).sum(axis=1)
    per_patient: dict[str, dict[str, float]] = {}
    for pid in dict.fromkeys(patient.tolist()):
        rows = patient == pid
        voxel_ml = area * (thickness.get(pid) or 1.0) / 1000.0
        per_patient[pid] = {
            "fp_ml": float(outside[rows].sum()) * voxel_ml,
            "fp_ml_healthy": float(outside[rows & healthy].sum()) * voxel_ml,
            "tumour_free": bool(not ref[rows].any()),
        }
    n_healthy = int(healthy.sum())
    return {
        "healthy_slices": n_healthy,
        "healthy_slices_with_detection": int(detected[healthy].sum()),
        "detection_rate": float(detected[healthy].mean()) if n_healthy else float("nan"),
        "fp_ml": {pid: v["fp_ml"] for pid, v in per_patient.items()},
        "fp_ml_healthy": {pid: v["fp_ml_healthy"] for pid, v in per_patient.items()},
        "tumour_free": {pid: v["fp_ml"] for pid, v in per_patient.items() if v["tumour_free"]},
    }
