"""Segmentation metrics that match named reference implementations.

    >>> from pathogan_bench.metrics import hd95, score_slices
    >>> hd95(pred_slice, ref_slice, spacing=(1.0, 1.0))
    >>> scores = score_slices(pred[N, H, W], ref[N, H, W], metrics=("dice", "hd95", "avd"))

=========  =================================================  ============================
metric     definition                                         matches
=========  =================================================  ============================
dice       2|P∩G| / (|P|+|G|)                                 medpy ``dc``
hd95       95th pct. of pooled border distances (linear)      medpy ``hd95``
hd         max of pooled border distances                     medpy ``hd``
assd       mean of pooled border distances                    medpy 0.5 ``assd``
avd        max of directed all-pixel mean distances           Taha & Hanbury 2015
avd_mean   mean of directed all-pixel mean distances          EvaluateSegmentation AVGDIST
dice_pp    Dice of a patient's slices stacked                 medpy ``dc`` on the stack
=========  =================================================  ============================

Per patient, :func:`volumetric_scores` stacks each patient's slices into one
volume and scores it with the 3D voxel size (:mod:`.patient_volumes`).
:func:`threshold_free` scores probability maps without a threshold: pixel
AUROC, AUPRC and the best-threshold Dice (:mod:`.threshold_free`). The
registered metrics (names, labels, units) are the built-in metric plugin's;
:class:`Metric`, :class:`PairScore` and :class:`MapScore` are what a metric
plugin builds them from.

Empty masks follow a named convention (:mod:`.empty`): ``default`` or
``brats``. docs/METRICS.md gives the definitions in full.
"""

from .base import Metric, assd, avd, avd_mean, dice, hd, hd95
from .batch import (
    KERNEL_METRICS,
    TABLE1_METRICS,
    BatchScores,
    MetricInputError,
    default_workers,
    dice_pp,
    score_batch,
    score_slices,
)
from .core import border
from .empty import BRATS_PENALTY, CASE_NAMES, CONVENTIONS, EmptyConvention, get_convention
from .from_functions import MapScore, PairScore
from .patient_volumes import stack_patient, volumetric_scores
from .threshold_free import ThresholdFree, threshold_free

__all__ = [
    "BRATS_PENALTY",
    "CASE_NAMES",
    "CONVENTIONS",
    "KERNEL_METRICS",
    "TABLE1_METRICS",
    "BatchScores",
    "EmptyConvention",
    "MapScore",
    "Metric",
    "MetricInputError",
    "PairScore",
    "ThresholdFree",
    "assd",
    "avd",
    "avd_mean",
    "border",
    "dice",
    "default_workers",
    "dice_pp",
    "get_convention",
    "hd",
    "hd95",
    "score_batch",
    "score_slices",
    "stack_patient",
    "threshold_free",
    "volumetric_scores",
]
