"""Scoring NIfTI label maps: pairs of files or folders, label loading, volume- and slice-wise scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from ..contracts.metric import MaskMetric
from ..data.geometry import align
from ..errors import UserError
from .base import score_pairs
from .empty import CASE_NAMES

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


#: file-name endings that mark a label map; what comes before them names the case
LABEL_SUFFIXES = ("-label", "_label", "-seg", "_seg")
#: label maps named after their content, not their case (the case is the folder: BraTS 2013/2015)
GENERIC_LABEL_NAMES = ("OTMultiClass", "seg", "label")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def case_key(path: Path) -> str | None:
    """The case a label-map file belongs to: ``PID-label.nii.gz`` -> PID, ``PID/OTMultiClass.nii.gz`` -> PID."""
    stem = _stem(path)
    for suffix in LABEL_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    if stem in GENERIC_LABEL_NAMES:
        return path.parent.name
    return None


def _label_files(folder: Path, depth: int) -> list[Path]:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and _is_nifti(p)]
    if depth > 0:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            files += [p for p in _label_files(sub, depth - 1) if case_key(p) is not None]
    return files


def find_pairs(pred: Path, gt: Path) -> list[tuple[str, Path, Path]]:
    """(name, prediction, ground truth) for two files, or two folders.

    Folders are matched by file name; failing that, by case: ``segment``'s
    ``PID-label.nii.gz`` files meet a dataset's ``PID-seg.nii.gz`` (at the top
    or in case folders) or ``PID/OTMultiClass.nii.gz``.
    """
    if pred.is_file() and gt.is_file():
        return [(pred.name, pred, gt)]
    if not (pred.is_dir() and gt.is_dir()):
        for path in (pred, gt):
            if not path.exists():
                raise UserError(f"{path}: does not exist")
        raise UserError(f"{pred}, {gt}: give two files or two folders")
    preds = {p.name: p for p in _label_files(pred, 0)}
    labelled = {name: p for name, p in preds.items() if _stem(p).endswith("-label")}
    preds = labelled or preds  # segment's output: its label maps, not its probabilities or inpaintings
    if not preds:
        raise UserError(f"{pred}: no .nii or .nii.gz files")
    gts = {p.name: p for p in _label_files(gt, 0)}
    if set(preds) <= set(gts):
        return [(name, preds[name], gts[name]) for name in preds]
    by_case = {case_key(p): p for p in _label_files(gt, 1) if case_key(p) is not None}
    pairs, missing = [], []
    for name, path in preds.items():
        key = case_key(path) or _stem(path)
        if key in by_case:
            pairs.append((key, path, by_case[key]))
        else:
            missing.append(name)
    if missing:
        raise UserError(
            f"{gt}: no ground truth for {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
            + " (matched by file name, or by case: PID-label.nii.gz with PID-seg.nii.gz or PID/OTMultiClass.nii.gz)"
        )
    return pairs


def load_label_pair(
    pred_path: Path, gt_path: Path, labels: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], tuple[float, ...]]:
    """A prediction and its ground truth on the ground truth's voxel grid, and their voxel sizes.

    The prediction is brought to the ground truth's orientation from its
    affine; its spacing, directions and origin must then agree within the
    tolerances of :mod:`pathogan_bench.data.geometry` (else a one-line error
    naming both files). Shapes are left to the caller to compare.
    """
    p, p_zoom, p_affine = _load_with_affine(pred_path, labels)
    g, g_zoom, g_affine = _load_with_affine(gt_path, labels)
    aligned = align(pred_path, p, p_affine, gt_path, g_affine, g.shape)
    if aligned is not p:  # axes reversed or permuted: the header's voxel sizes follow
        p_zoom = g_zoom
    return aligned, g, p_zoom, g_zoom


def _load_with_affine(path: Path, labels: Sequence[int] | None) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    import nibabel as nib

    try:
        image = cast("SpatialImage", nib.load(str(path)))
        data = np.asanyarray(image.dataobj)
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None
    except Exception as exc:
        raise UserError(f"{path}: cannot read as NIfTI: {exc}") from None
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3):
        raise UserError(f"{path}: expected a 2D or 3D label map, got shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise UserError(f"{path}: not a label map (non-integer values; threshold probabilities first)")
    mask = np.isin(data, list(labels)) if labels else data > 0
    zooms = tuple(float(z) for z in image.header.get_zooms()[: data.ndim])
    return mask, zooms, np.asarray(image.affine, dtype=np.float64)


def parse_spacing(text: str, ndim: int, path: Path | None = None) -> tuple[float, ...] | None:
    """``auto`` -> None (use the header); ``1`` or ``1,1,2.5`` -> a tuple."""
    if text == "auto":
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--spacing {text}: expected 'auto' or numbers like 1,1,1") from None
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim or not all(np.isfinite(v) and v > 0 for v in values):
        raise UserError(f"--spacing {text}: needs {ndim} finite positive numbers" + (f" for {path}" if path else ""))
    return values


def score_volume(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: tuple[float, ...],
    metrics: Mapping[str, MaskMetric],
    empty: str,
    axis: int = 2,
) -> tuple[dict[str, float | str], pd.DataFrame]:
    """Volumetric scores and per-slice scores along ``axis`` (slices where either mask has foreground).

    ``metrics``: pair-level mask metrics by registry name.
    """
    whole, whole_scores = score_pairs(metrics, pred[None], ref[None], spacing, empty)
    volume: dict[str, float | str] = {m: float(whole[m][0]) for m in metrics}
    volume["case"] = CASE_NAMES[int(whole_scores.case[0])]
    if pred.ndim == 2:
        return volume, pd.DataFrame(columns=["z", *metrics, "case"])
    stack_p, stack_r = np.moveaxis(pred, axis, 0), np.moveaxis(ref, axis, 0)
    keep = np.flatnonzero(stack_p.reshape(len(stack_p), -1).any(1) | stack_r.reshape(len(stack_r), -1).any(1))
    in_plane = tuple(s for i, s in enumerate(spacing) if i != axis)
    values, scores = score_pairs(
        metrics, np.ascontiguousarray(stack_p[keep]), np.ascontiguousarray(stack_r[keep]), in_plane, empty
    )
    frame = pd.DataFrame({"z": keep, **values, "case": scores.case_names()})
    return volume, frame
