"""Lesion-wise scores as the BraTS 2023+ segmentation challenges define them, and lesion detection by size.

Per volume (one patient's slices stacked, with its voxel spacing):

1. connected components (26-connectivity) of the reference and of the
   prediction;
2. reference lesions closer than the dilation are merged: the reference is
   dilated ``dilation`` times by the 18-connected structure, the dilated
   mask's 26-connected components label the reference voxels inside them;
3. for each (merged) reference lesion G, every predicted component that
   touches G dilated the same way is matched to it (true positive); P is the
   union of the whole matched components; the lesion scores Dice(P, G) and
   HD95(P, G) (no match: Dice 0, HD95 the penalty, 374 mm);
4. predicted components matched to no reference lesion are false positives;
5. reference lesions of at most ``min_volume_mm3`` are left out of the
   averages (a prediction matched to one is still no false positive);
6. lesion-wise Dice = Σ Dice / (#lesions + #FP), lesion-wise HD95 =
   (Σ HD95 + 374 #FP) / (#lesions + #FP); no lesion and no false positive:
   Dice 1, HD95 0.

This follows ``get_lesion_wise_results`` of the BraTS 2023 metrics
(Saluja et al., challenge GLI: dilation 3, lesion volume threshold 50 mm³).
One difference, stated in docs/METRICS.md: the HD95 of a lesion is this
package's ``hd95`` (the 95th percentile of the pooled border distances, as
medpy and panoptica), where the 2023 scripts use DeepMind's surface-distance
robust Hausdorff (max of two directed, surfel-weighted percentiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .base import hd95

#: the challenge's HD95 for a missed lesion or a false positive (mm)
HD95_PENALTY = 374.0
#: BraTS-GLI parameters
DILATION = 3
MIN_VOLUME_MM3 = 50.0
#: lesion-size strata (ml): [lower, upper) bounds
SIZE_BINS_ML: tuple[float, ...] = (0.0, 1.0, 10.0, math.inf)

_CONNECT26 = ndimage.generate_binary_structure(3, 3)
_DILATE18 = ndimage.generate_binary_structure(3, 2)


@dataclass
class Lesion:
    """One (merged) reference lesion."""

    volume_ml: float
    dice: float
    hd95: float
    detected: bool
    #: False when it is at most the volume threshold (left out of the averages)
    counted: bool


@dataclass
class LesionScores:
    """Lesion-wise scores of one volume."""

    dice: float
    hd95: float
    #: counted reference lesions detected / missed; predicted components matched / false
    tp: int
    fn: int
    fp: int
    pred_matched: int
    lesions: list[Lesion] = field(default_factory=list)

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def precision(self) -> float:
        total = self.pred_matched + self.fp
        return self.pred_matched / total if total else math.nan


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a 3D mask (8-connected in 2D)."""
    mask = np.asarray(mask, dtype=bool)
    structure = _CONNECT26 if mask.ndim == 3 else ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labels, n = ndimage.label(mask, structure=structure)
    return labels, int(n)


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    if iterations <= 0:
        return mask
    structure = _DILATE18 if mask.ndim == 3 else ndimage.generate_binary_structure(mask.ndim, mask.ndim - 1)
    return ndimage.binary_dilation(mask, structure=structure, iterations=iterations)


def _box(mask: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``mask`` widened by one voxel (clipped to the image): border distances inside it are
    those of the whole image, since no mask touches the box's edge unless it touches the image's."""
    where = np.nonzero(mask)
    return tuple(slice(max(int(w.min()) - 1, 0), min(int(w.max()) + 2, n)) for w, n in zip(where, mask.shape))


def merged_reference(ref: np.ndarray, dilation: int = DILATION) -> tuple[np.ndarray, int]:
    """Reference lesions merged when their dilations touch: labels of the reference voxels."""
    labels, n = label_components(_dilate(ref, dilation))
    return np.where(ref, labels, 0), n


def lesion_wise(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float] | None = None,
    dilation: int = DILATION,
    min_volume_mm3: float = MIN_VOLUME_MM3,
) -> LesionScores:
    """Lesion-wise Dice and HD95, detection counts and per-lesion facts of one volume (see the module doc)."""
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"pred {pred.shape} and ref {ref.shape} differ in shape")
    sp = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * ref.ndim
    voxel_mm3 = float(np.prod(sp))
    pred_labels, n_pred = label_components(pred)
    gt_labels, n_gt = merged_reference(ref, dilation)
    matched: set[int] = set()
    lesions: list[Lesion] = []
    for comp in range(1, n_gt + 1):
        gt = gt_labels == comp
        if not gt.any():
            continue
        near = _dilate(gt, dilation)
        hits = np.unique(pred_labels[near])
        hits = hits[hits != 0]
        matched.update(int(h) for h in hits)
        p = np.isin(pred_labels, hits) if len(hits) else np.zeros_like(gt)
        volume = float(gt.sum()) * voxel_mm3
        if len(hits):
            inter = np.count_nonzero(p & gt)
            dice = float(2.0 * inter / (np.count_nonzero(p) + np.count_nonzero(gt)))
            box = _box(p | gt)
            distance = float(hd95(p[box], gt[box], sp))
        else:
            dice, distance = 0.0, HD95_PENALTY
        lesions.append(Lesion(volume / 1000.0, dice, distance, bool(len(hits)), volume > min_volume_mm3))
    counted = [lesion for lesion in lesions if lesion.counted]
    fp = n_pred - len(matched)
    denominator = len(counted) + fp
    if denominator:
        dice = float(sum(lesion.dice for lesion in counted) / denominator)
        distance = (sum(lesion.hd95 for lesion in counted) + HD95_PENALTY * fp) / denominator
    else:
        dice, distance = 1.0, 0.0
    tp = sum(lesion.detected for lesion in counted)
    return LesionScores(dice, distance, tp, len(counted) - tp, fp, len(matched), lesions)


def size_stratum(volume_ml: float, bins: Sequence[float] = SIZE_BINS_ML) -> str:
    """The label of the size bin a lesion falls in, e.g. ``"1-10 ml"``."""
    for low, high in zip(bins[:-1], bins[1:]):
        if low <= volume_ml < high:
            return stratum_label(low, high)
    return stratum_label(bins[-2], bins[-1])


def stratum_label(low: float, high: float) -> str:
    if math.isinf(high):
        return f">= {low:g} ml"
    if low == 0:
        return f"< {high:g} ml"
    return f"{low:g}-{high:g} ml"


def strata_labels(bins: Sequence[float] = SIZE_BINS_ML) -> list[str]:
    return [stratum_label(low, high) for low, high in zip(bins[:-1], bins[1:])]
