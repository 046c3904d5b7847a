"""Scoring a finished run: predictions.npz -> per-slice, per-patient and per-volume tables -> report.

A finished run directory holds ``predictions.npz`` (``prob`` (N,H,W)
probabilities, ``mask`` (N,H,W) references, ``patient``, ``z``, ``split``,
``threshold``, and since whole scans are scored ``domain`` and ``brain``)
and ``run.json`` (model, supervision, loss set, data, spacing, ...).
:func:`evaluate_run` re-scores it and (re)writes ``metrics_slices.csv``,
``metrics_patients.csv`` (both Table 1: pathological slices),
``metrics_volumes.csv`` (3D scores per patient over every slice),
``summary.json`` and ``report.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config.resolve import load_eval_table
from ..config.schema import EvalConfig
from ..contracts.metric import MaskMetric
from ..data.slices import HEALTHY, PATHOLOGICAL
from ..errors import UserError
from ..metrics import CASE_NAMES, dice_pp, get_convention
from ..metrics.base import score_pairs
from ..metrics.from_functions import MapScore
from ..record.facts import RunFacts
from ..record.summary import Stat, Summary, summarise
from ..reporting.run_report import write_report
from ..utils.io import write_csv
from .clinical import VOLUME_METRICS, ClinicalScores, clinical_scores
from .policy_grid import load_calibration_maps, policy_grid
from .scoring_plan import ScoringPlan, plan_scoring

PREDICTION_KEYS = ("prob", "mask", "patient", "z", "split", "threshold")
#: every policy's scores per patient (split, policy, postprocess, patient, dice_3d, lesion_dice, lesion_hd95, fp_ml)
POLICY_PATIENTS_FILE = "metrics_policy_patients.csv"


def evaluate_predictions(
    prob: np.ndarray,
    mask: np.ndarray,
    patient: Sequence[str] | np.ndarray,
    z: Sequence[int] | np.ndarray,
    split: Sequence[str] | np.ndarray,
    threshold: float,
    metrics: Mapping[str, MaskMetric],
    spacing: Sequence[float] | None = None,
    empty: str = "default",
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-slice and per-patient scores of probability maps thresholded at ``threshold``.

    A pixel is predicted foreground when ``prob >= threshold``. Returns
    ``(slices, patients)``: ``slices`` has patient, z, split, one column
    per slice metric, the empty-mask case and the pixel counts;
    ``patients`` has patient, split, ``dice_pp`` (the Dice of the
    patient's slices of that split stacked), any other per-patient metric
    and the number of slices.
    """
    get_convention(empty)  # unknown names fail before any work
    prob = np.asarray(prob)
    mask = np.asarray(mask)
    if prob.shape != mask.shape or prob.ndim != 3:
        raise UserError(f"prob {prob.shape} and mask {mask.shape} must both be (N, H, W)")
    n = prob.shape[0]
    patient, z, split = (np.asarray(a) for a in (patient, z, split))
    for name, arr in (("patient", patient), ("z", z), ("split", split)):
        if arr.shape != (n,):
            raise UserError(f"{name} has shape {arr.shape}, expected ({n},)")
    # a float64 scalar makes numpy compare in float64 (a Python float would be cast down to float16)
    pred = prob >= np.float64(threshold)
    ref = mask.astype(bool, copy=False)

    values, scores = score_pairs(metrics, pred, ref, spacing, empty, workers)
    slices = pd.DataFrame({"patient": patient.astype(str), "z": z.astype(np.int64), "split": split.astype(str)})
    for name in metrics:
        if name in values:
            slices[name] = values[name]
    slices["case"] = np.asarray(CASE_NAMES, dtype=object)[scores.case]
    slices["pred_px"] = scores.pred_px
    slices["ref_px"] = scores.ref_px

    # one group per (patient, split), in order of first appearance
    keys = slices[["patient", "split"]].drop_duplicates().reset_index(drop=True)
    codes = np.empty(n, dtype=np.int64)
    codes[:] = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(slices[["patient", "split"]]))
    per_patient = dice_pp(pred, ref, codes, empty=empty)
    patients = keys.assign(
        dice_pp=[per_patient[str(k)] for k in range(len(keys))], slices=np.bincount(codes, minlength=len(keys))
    )
    for name, metric in metrics.items():
        if metric.level == "patient" and name != "dice_pp":
            patients[name] = [float(metric(pred[codes == k], ref[codes == k], spacing)) for k in range(len(keys))]
    return slices, patients


def load_predictions(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``run_dir/predictions.npz``, checked."""
    path = Path(run_dir) / "predictions.npz"
    if not path.is_file():
        raise UserError(f"{path}: no predictions (is the run finished?)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # a truncated or foreign file
        raise UserError(f"{path}: cannot read: {exc}") from None
    missing = [k for k in PREDICTION_KEYS if k not in arrays]
    if missing:
        raise UserError(f"{path}: missing arrays {', '.join(missing)}")
    if arrays["prob"].shape != arrays["mask"].shape or arrays["prob"].ndim != 3:
        raise UserError(f"{path}: prob {arrays['prob'].shape} and mask {arrays['mask'].shape} must both be (N, H, W)")
    n = arrays["prob"].shape[0]
    for key in ("patient", "z", "split"):
        if arrays[key].shape != (n,):
            raise UserError(f"{path}: {key} has shape {arrays[key].shape}, expected ({n},)")
    return arrays


def score_and_report(
    arrays: dict[str, np.ndarray],
    facts: RunFacts,
    scoring: ScoringPlan,
    run_dir: Path,
    out_dir: Path | None = None,
    workers: int | None = None,
    calibration: dict[str, Any] | None = None,
) -> Summary:
    """Score a run's predictions and write its tables and report into ``out_dir`` (default: the run directory).

    The Table 1 columns score the pathological slices with the mask metrics
    of ``scoring``; the volumetric, false-positive and map metrics every
    labelled slice (:mod:`.clinical`); every threshold policy, before and
    after the post-processing steps, the test split (:mod:`.policy_grid`;
    ``calibration``: the validation patients' maps, default the run's
    calibration.npz).
    """
    out_dir = Path(out_dir or run_dir)
    spacing = facts.in_plane_spacing(run_dir / "run.json")
    domain = arrays.get("domain")
    rows = np.flatnonzero(domain == PATHOLOGICAL) if domain is not None else np.arange(len(arrays["prob"]))
    slices, patients = evaluate_predictions(
        arrays["prob"][rows],
        arrays["mask"][rows],
        arrays["patient"][rows],
        arrays["z"][rows],
        arrays["split"][rows],
        float(arrays["threshold"]),
        scoring.mask_metrics,
        spacing,
        scoring.empty,
        workers,
    )
    clinical = clinical_scores(arrays, spacing, scoring.empty, workers)
    write_csv(out_dir / "metrics_slices.csv", slices)
    write_csv(out_dir / "metrics_patients.csv", patients)
    if len(clinical.volumes):
        write_csv(out_dir / "metrics_volumes.csv", clinical.volumes)
    summary = summarise(slices, patients, facts, list(scoring.mask_metrics), scoring.empty, scoring.facts)
    attach_clinical(summary, clinical)
    attach_map_metrics(summary, arrays, scoring)
    summary.postprocess = scoring.postprocess_labels
    grid = policy_grid(
        arrays,
        calibration if calibration is not None else load_calibration_maps(run_dir),
        scoring.policies,
        scoring.postprocess,
        spacing,
    )
    summary.policies = grid.rows
    write_policy_table(out_dir / "metrics_policies.csv", summary.policies)
    write_csv(out_dir / POLICY_PATIENTS_FILE, grid.patients)
    attach_translation_change(summary, arrays)
    write_report(summary, out_dir, sorted((Path(run_dir) / "figures").glob("*.png")))
    return summary


def attach_translation_change(summary: Summary, arrays: dict[str, np.ndarray]) -> None:
    """Per split, the mean change of the translation outside the lesion: over pathological slices, and over
    healthy slices (whole brain), when the run's predictions hold it."""
    change = arrays.get("change_outside")
    domain = arrays.get("domain")
    if change is None or domain is None:
        return
    for split in dict.fromkeys(arrays["split"].tolist()):
        rows = arrays["split"] == split
        per: dict[str, float] = {}
        for name, code in (("pathological", PATHOLOGICAL), ("healthy", HEALTHY)):
            values = change[rows & (domain == code)]
            values = values[np.isfinite(values)]
            per[name] = float(values.mean()) if len(values) else float("nan")
            per[f"{name}_slices"] = float(len(values))
        summary.translation[str(split)] = per


def attach_clinical(summary: Summary, clinical: ClinicalScores) -> None:
    """The whole-scan scores as summary statistics (volumetric ones over patients)."""
    for split in clinical.scope:
        # tumour-free patients have their own column (the volume predicted in them)
        per_patient = (
            clinical.volumes[(clinical.volumes["split"] == split) & (clinical.volumes["ref_vox"] > 0)]
            if len(clinical.volumes)
            else None
        )
        summary.volumes[split] = {
            m: Stat.of(per_patient[m].to_numpy(np.float64))
            for m in VOLUME_METRICS
            if per_patient is not None and m in per_patient
        }
        detection = clinical.detection[split]
        summary.detection[split] = {
            **{k: detection[k] for k in ("healthy_slices", "healthy_slices_with_detection", "detection_rate")},
            "fp_ml": Stat.of(list(detection["fp_ml"].values())),
            "fp_ml_healthy": Stat.of(list(detection["fp_ml_healthy"].values())),
            "tumour_free": detection["tumour_free"],
        }
    summary.threshold_free = dict(clinical.threshold_free)
    summary.scope = dict(clinical.scope)
    summary.notes = list(dict.fromkeys(clinical.notes))


def attach_map_metrics(summary: Summary, arrays: dict[str, np.ndarray], scoring: ScoringPlan) -> None:
    """The map metrics per split, pooled over the brain pixels; the built-in ones read the threshold-free scores."""
    summary.map_metrics = list(scoring.map_metrics)
    split = arrays["split"].astype(str)
    brain = arrays.get("brain")
    for name, metric in scoring.map_metrics.items():
        for part, scores in summary.threshold_free.items():
            shared = metric.from_scores(scores) if isinstance(metric, MapScore) else None
            if shared is not None:
                scores[name] = shared
                continue
            rows = np.flatnonzero(split == part)
            valid = brain[rows] if brain is not None else None
            scores[name] = float(metric(arrays["prob"][rows], arrays["mask"][rows].astype(bool), valid))


def write_policy_table(path: Path, grid: dict[str, list[dict[str, Any]]]) -> None:
    """One row per split, post-processing chain and policy; statistics flattened (``dice_3d_mean``, ...)."""
    rows = []
    for split, table in grid.items():
        for entry in table:
            row: dict[str, Any] = {"split": split}
            for key, value in entry.items():
                if key == "strata":
                    for label, facts in value.items():
                        for k, v in facts.items():
                            row[f"stratum {label} {k}"] = v
                elif isinstance(value, dict):
                    row.update({f"{key}_{k}": v for k, v in value.items()})
                else:
                    row[key] = value
            rows.append(row)
    if rows:
        write_csv(path, pd.DataFrame(rows))


def evaluate_run(
    run_dir: str | Path,
    registry: Any,
    metrics: Sequence[str] | None = None,
    empty: str | None = None,
    workers: int | None = None,
    out_dir: str | Path | None = None,
    policies: Sequence[str] | None = None,
    postprocess: Sequence[str] | None = None,
) -> Summary:
    """Re-score a finished run directory from disk and (re)write its tables and report.

    ``metrics``, ``empty``, ``policies`` and ``postprocess`` default to the
    run's ``[eval]`` config, then to the defaults of the config schema; the
    components are created by ``registry``. ``out_dir`` keeps the run's own
    report and writes the new one elsewhere.
    """
    run_dir = Path(run_dir)
    facts = RunFacts.load(run_dir)
    arrays = load_predictions(run_dir)
    configured = load_eval_table(run_dir / "config.toml")
    scoring = plan_scoring(
        registry,
        metrics or configured.metrics or EvalConfig().metrics,
        empty or configured.empty or "default",
        policies if policies is not None else configured.policies,
        postprocess if postprocess is not None else configured.postprocess,
    )
    return score_and_report(arrays, facts, scoring, run_dir, Path(out_dir) if out_dir else None, workers)
