"""Every threshold policy, before and after post-processing, scored side by side on a split.

For each (post-processing chain, policy): the map steps of the chain are
applied per patient volume, the policy's threshold(s) are fitted (on maps
processed the same way), the mask steps are applied per patient, and the
masks are scored:

- slice Dice: mean over the pathological slices (the Table 1 slices);
- 3D Dice: mean over the patients with tumour (their evaluated slab);
- healthy slices with any detection, and the false-positive volume (ml,
  mean over patients);
- lesion-wise Dice and HD95 (BraTS 2023+, mean over patients),
  lesion detection sensitivity and precision (pooled over the split's
  lesions), and Dice and detection per lesion-size stratum
  (:mod:`pathogan_bench.metrics.lesionwise`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contracts.postprocess import PostprocessStep, Volume
from ..contracts.threshold_policy import MapSet, PolicyData, ThresholdPolicy
from ..data.slices import HEALTHY, PATHOLOGICAL
from ..metrics.lesionwise import lesion_wise, size_stratum, strata_labels
from .clinical import slice_thickness
from .postprocess import apply_stage, chain_label

#: maps of the validation (or training) patients, written by the run next to predictions.npz
CALIBRATION_FILE = "calibration.npz"
#: the key of a grid row's per-patient scores while it is built (kept apart from the row: see PolicyScores)
PATIENT_ROWS = "_patients"


@dataclass
class PolicyScores:
    """Every (post-processing chain, policy) row per split, and its scores per patient."""

    #: split -> one row per (chain, policy): statistics over the split (summary.json, report.md)
    rows: dict[str, list[dict[str, Any]]]
    #: one row per split, chain, policy and patient: 3D Dice, lesion-wise Dice and HD95, false-positive volume
    patients: pd.DataFrame


@dataclass
class _Patients:
    """Row indices of each patient's slices, in z order, and its voxel spacing."""

    rows: dict[str, np.ndarray]
    spacing: dict[str, tuple[float, float, float]]


def _patients(patient: np.ndarray, z: np.ndarray, affine: np.ndarray | None, in_plane: Sequence[float]) -> _Patients:
    rows, spacing = {}, {}
    for pid in dict.fromkeys(patient.tolist()):
        idx = np.flatnonzero(patient == pid)
        idx = idx[np.argsort(z[idx], kind="stable")]
        rows[pid] = idx
        depth = slice_thickness(affine[idx[0]]) if affine is not None else None
        spacing[pid] = (float(in_plane[0]), float(in_plane[1]), float(depth or 1.0))
    return _Patients(rows, spacing)


def _map_stage(prob: np.ndarray, brain: np.ndarray, groups: _Patients, steps: Sequence[PostprocessStep]) -> np.ndarray:
    if not any(step.stage == "map" for step in steps):
        return prob
    out = np.array(prob, dtype=np.float32)
    for pid, idx in groups.rows.items():
        out[idx] = apply_stage(steps, "map", out[idx], Volume(brain[idx], groups.spacing[pid]))
    return np.clip(out, 0.0, 1.0)


def _stat(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if not len(arr):
        return {"mean": math.nan, "std": math.nan, "median": math.nan, "n": 0}
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else math.nan,
        "median": float(np.median(arr)),
        "n": int(len(arr)),
    }


def _score_masks(
    pred: np.ndarray,
    ref: np.ndarray,
    brain: np.ndarray,
    domain: np.ndarray,
    groups: _Patients,
    steps: Sequence[PostprocessStep],
) -> dict[str, Any]:
    pred = pred.copy()
    dice_3d, fp_ml, lesion_dice, lesion_hd95 = [], [], [], []
    per_patient: list[dict[str, Any]] = []
    tp = fn = fp = matched = 0
    strata: dict[str, list[tuple[float, bool]]] = {label: [] for label in strata_labels()}
    for pid, idx in groups.rows.items():
        volume = Volume(brain[idx], groups.spacing[pid])
        mask = apply_stage(steps, "mask", pred[idx], volume).astype(bool, copy=False)
        pred[idx] = mask
        truth = ref[idx]
        fp_ml.append(float(np.count_nonzero(mask & ~truth)) * volume.voxel_ml)
        if truth.any():
            dice_3d.append(2.0 * np.count_nonzero(mask & truth) / (np.count_nonzero(mask) + np.count_nonzero(truth)))
        scores = lesion_wise(mask, truth, _zyx(groups.spacing[pid]))
        lesion_dice.append(scores.dice)
        lesion_hd95.append(scores.hd95)
        per_patient.append(
            {
                "patient": pid,
                "dice_3d": dice_3d[-1] if truth.any() else math.nan,
                "lesion_dice": scores.dice,
                "lesion_hd95": scores.hd95,
                "fp_ml": fp_ml[-1],
            }
        )
        tp, fn, fp, matched = tp + scores.tp, fn + scores.fn, fp + scores.fp, matched + scores.pred_matched
        for lesion in scores.lesions:
            strata[size_stratum(lesion.volume_ml)].append((lesion.dice, lesion.detected))
    pathological = domain == PATHOLOGICAL
    p, r = pred[pathological], ref[pathological]
    pixels = int(np.prod(pred.shape[1:]))
    inter = (p & r).reshape(len(p), pixels).sum(axis=1)
    sizes = p.reshape(len(p), pixels).sum(axis=1) + r.reshape(len(r), pixels).sum(axis=1)
    slice_dice = np.where(sizes > 0, 2.0 * inter / np.maximum(sizes, 1), 1.0)
    healthy = domain == HEALTHY
    detected = pred[healthy].reshape(int(healthy.sum()), pixels).any(axis=1)
    return {
        PATIENT_ROWS: per_patient,
        "slice_dice": _stat(slice_dice.tolist()),
        "dice_3d": _stat(dice_3d),
        "healthy_slices": int(healthy.sum()),
        "healthy_slices_with_detection": int(detected.sum()),
        "fp_ml": _stat(fp_ml),
        "lesion_dice": _stat(lesion_dice),
        "lesion_hd95": _stat(lesion_hd95),
        "lesions": tp + fn,
        "lesion_sensitivity": tp / (tp + fn) if tp + fn else math.nan,
        "lesion_precision": matched / (matched + fp) if matched + fp else math.nan,
        "strata": {
            label: {
                "lesions": len(items),
                "detected": sum(d for _, d in items),
                "dice": float(np.mean([v for v, _ in items])) if items else math.nan,
            }
            for label, items in strata.items()
        },
    }


def _zyx(spacing: tuple[float, float, float]) -> tuple[float, float, float]:
    """(y, x, z) spacing as the (Z, H, W) stack's axes need it."""
    return (spacing[2], spacing[0], spacing[1])


def _threshold_facts(value: float | np.ndarray) -> dict[str, Any]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return {"threshold": float(arr), "per_slice": False}
    finite = arr[np.isfinite(arr)]
    return {"threshold": float(np.median(finite)) if len(finite) else math.nan, "per_slice": True}


def policy_grid(
    arrays: dict[str, np.ndarray],
    calibration: dict[str, np.ndarray] | None,
    policies: Sequence[ThresholdPolicy],
    postprocess: Sequence[PostprocessStep],
    spacing: Sequence[float] | None,
    splits: Sequence[str] | None = None,
) -> PolicyScores:
    """split -> one row per (post-processing chain, policy), and the rows' per-patient scores; ``splits`` default:
    test if scored, else every split.

    ``calibration`` holds the maps of the validation patients (keys prob, mask, brain, domain, patient, z,
    optionally affine and ``patients``: "validation" or "training"); without it the training rows of
    ``arrays`` are used when there are any.
    """
    chains: list[list[PostprocessStep]] = [[], list(postprocess)] if postprocess else [[]]
    in_plane = tuple(float(s) for s in spacing) if spacing is not None else (1.0, 1.0)
    split = arrays["split"].astype(str)
    patient, z = arrays["patient"].astype(str), arrays["z"].astype(np.int64)
    domain = arrays.get("domain")
    domain = np.full(len(split), PATHOLOGICAL, np.int8) if domain is None else np.asarray(domain)
    brain = arrays.get("brain")
    brain = np.ones(arrays["prob"].shape, bool) if brain is None else np.asarray(brain, dtype=bool)
    ref_all = arrays["mask"].astype(bool, copy=False)
    cal, cal_patients = _calibration(arrays, calibration, domain, brain, ref_all)
    present = list(dict.fromkeys(split.tolist()))
    wanted = list(splits) if splits is not None else (["test"] if "test" in present else present)
    out: dict[str, list[dict[str, Any]]] = {}
    patients: list[dict[str, Any]] = []
    for name in [s for s in wanted if s in present]:
        rows = np.flatnonzero(split == name)
        groups = _patients(patient[rows], z[rows], _rows(arrays.get("affine"), rows), in_plane)
        scored = MapSet(arrays["prob"][rows], ref_all[rows], brain[rows], domain[rows])
        out[name] = [
            row
            for chain in chains
            for row in _chain_rows(
                scored, groups, chain, policies, float(arrays["threshold"]), cal, cal_patients, in_plane
            )
        ]
        for row in out[name]:
            keys = {"split": name, "policy": row["policy"], "postprocess": row["postprocess"]}
            patients += [{**keys, **scores} for scores in row.pop(PATIENT_ROWS, [])]
    columns = ["split", "policy", "postprocess", "patient", "dice_3d", "lesion_dice", "lesion_hd95", "fp_ml"]
    return PolicyScores(out, pd.DataFrame(patients, columns=columns))


def _chain_rows(
    scored: MapSet,
    groups: _Patients,
    chain: list[PostprocessStep],
    policies: Sequence[ThresholdPolicy],
    model_threshold: float,
    cal: dict[str, Any] | None,
    cal_patients: str,
    in_plane: Sequence[float],
) -> list[dict[str, Any]]:
    """One row per policy for one post-processing chain: its map steps applied (to the calibration maps too), each
    policy's threshold fitted, its mask steps applied, the masks scored."""
    prob = _map_stage(scored.prob, scored.brain, groups, chain)
    cal_set = None
    if cal is not None:
        cal_groups = _patients(cal["patient"], cal["z"], cal.get("affine"), in_plane)
        cal_set = MapSet(
            _map_stage(cal["prob"], cal["brain"], cal_groups, chain), cal["mask"], cal["brain"], cal["domain"]
        )
    scored = MapSet(prob, scored.ref, scored.brain, scored.domain)
    data = PolicyData(model_threshold, scored, cal_set, cal_patients)
    table = []
    for policy in policies:
        threshold = policy.thresholds(data)
        row: dict[str, Any] = {
            "policy": policy.label,
            "postprocess": chain_label(chain),
            "looks_at": policy.looks_at(data),
            "optimistic": bool(policy.optimistic),
            **_threshold_facts(threshold),
        }
        if np.all(np.isnan(np.asarray(threshold, dtype=np.float64))):
            row["missing"] = "no maps of validation or training patients to fit it on"
        else:
            t = np.asarray(threshold, dtype=np.float64)
            pred = prob >= (t[:, None, None] if t.ndim else t)
            row.update(_score_masks(pred & scored.brain, scored.ref, scored.brain, scored.domain, groups, chain))
        table.append(row)
    return table


def _rows(array: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[rows]


def _calibration(
    arrays: dict[str, np.ndarray],
    calibration: dict[str, np.ndarray] | None,
    domain: np.ndarray,
    brain: np.ndarray,
    ref: np.ndarray,
) -> tuple[dict[str, Any] | None, str]:
    if calibration is not None and len(calibration.get("prob", ())):
        cal = {
            "prob": np.asarray(calibration["prob"]),
            "mask": np.asarray(calibration["mask"], dtype=bool),
            "brain": np.asarray(calibration["brain"], dtype=bool),
            "domain": np.asarray(calibration["domain"]),
            "patient": np.asarray(calibration["patient"]).astype(str),
            "z": np.asarray(calibration["z"]).astype(np.int64),
            "affine": calibration.get("affine"),
        }
        return cal, str(calibration.get("patients", "validation"))
    train = np.flatnonzero(arrays["split"].astype(str) == "train")
    if not len(train):
        return None, "validation"
    cal = {
        "prob": arrays["prob"][train],
        "mask": ref[train],
        "brain": brain[train],
        "domain": domain[train],
        "patient": arrays["patient"].astype(str)[train],
        "z": arrays["z"].astype(np.int64)[train],
        "affine": _rows(arrays.get("affine"), train),
    }
    return cal, "training"


def load_calibration_maps(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``calibration.npz`` (None when it has none)."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays: dict[str, Any] = {k: data[k] for k in data.files}
    arrays["patients"] = str(arrays.get("patients", "validation"))
    return arrays
