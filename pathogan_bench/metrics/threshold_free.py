"""Scores of probability maps without a threshold: pixel AUROC, AUPRC and the best-threshold Dice.

Every score depends only on how many positive and negative pixels share
each distinct probability value, so the maps are read once, in chunks, into
counts per distinct value; nothing the size of the input is allocated.

* float16 maps (what inference stores): a histogram over the 16-bit
  patterns. Non-negative float16 patterns sort like their values, so the
  histogram is the exact table of distinct values; memory is fixed.
* other floating maps (float32, float64): exact too, without rounding:
  sorted distinct values of each chunk, merged, with their counts. Memory
  grows with the number of distinct values (about 24 bytes each).
* boolean and integer maps are scored as float16 (0 and 1 are exact).

A pixel is predicted positive at threshold ``t`` when ``prob >= t``, as in
:func:`pathogan_bench.evaluation.evaluate_predictions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .batch import MetricInputError

#: pixels per chunk
CHUNK = 1 << 22
_ONE = 0x3C00  # float16 bit pattern of 1.0; non-negative patterns above it are > 1, inf or NaN
_MINUS_ZERO = 0x8000


@dataclass(frozen=True)
class ThresholdFree:
    """Threshold-free scores of one probability map (or a stack of them, pooled).

    ``auroc`` and ``auprc`` are NaN when the scored pixels have no
    positives or no negatives; every score is NaN when no pixel is scored.
    """

    auroc: float
    auprc: float
    best_dice: float
    best_threshold: float
    positives: int
    pixels: int


def _mask_dtype(array: np.ndarray, what: str) -> None:
    if array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        raise MetricInputError(f"{what}: expected a boolean or integer mask, got {array.dtype}")


def _chunks(prob: np.ndarray, masks: list[np.ndarray], prob_dtype: np.dtype, chunk: int):
    """Aligned 1-D pieces of ``prob`` and the masks (as bool), at most ``chunk`` pixels each, no full copy."""
    return np.nditer(
        [prob, *masks],
        flags=["external_loop", "buffered", "zerosize_ok"],
        op_flags=[["readonly"]] * (1 + len(masks)),
        op_dtypes=[prob_dtype] + [np.dtype(bool)] * len(masks),
        casting="unsafe",
        buffersize=max(1, int(chunk)),
        order="K",
    )


def _check_float16_histogram(hist: np.ndarray) -> None:
    """Refuse NaN, negative and > 1 bit patterns (``hist``: counts over all 65536 patterns, -0.0 folded)."""
    bad = np.flatnonzero(hist[_ONE + 1 :]) + _ONE + 1
    if bad.size:
        values = bad.astype(np.uint16).view(np.float16)
        if np.isnan(values).any():
            raise MetricInputError("prob: contains NaN")
        raise MetricInputError(f"prob: values must lie in [0, 1], found {float(values[0])}")


def _table_float16(chunks, with_valid: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # bins: pattern | ref << 16 | (not valid) << 17
    hist: np.ndarray = np.zeros(4 << 16, dtype=np.int64)
    for part in chunks:
        bits = part[0].view(np.uint16)
        code = part[1].view(np.uint8).astype(np.uint32)
        if with_valid:
            code |= (~part[2]).view(np.uint8).astype(np.uint32) << 1
        hist += np.bincount((code << 16) | bits, minlength=4 << 16)
    hist = hist.reshape(4, 1 << 16)
    hist[:, 0] += hist[:, _MINUS_ZERO]  # -0.0 is 0.0
    hist[:, _MINUS_ZERO] = 0
    _check_float16_histogram(hist.sum(axis=0))  # every pixel, also outside ``valid``
    neg, pos = hist[0, : _ONE + 1], hist[1, : _ONE + 1]
    present = np.flatnonzero(neg + pos)
    values = present.astype(np.uint16).view(np.float16).astype(np.float64)
    return values, neg[present], pos[present]


def _merge(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    # counts are below 2**53, so float64 weights add them exactly
    neg = np.bincount(inverse, np.concatenate([p[1] for p in parts]), len(values)).astype(np.int64)
    pos = np.bincount(inverse, np.concatenate([p[2] for p in parts]), len(values)).astype(np.int64)
    return values, neg, pos


def _table_exact(chunks, with_valid: bool, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    size = waiting = 0
    for part in chunks:
        prob, ref = part[0], part[1]
        if np.isnan(prob).any():
            raise MetricInputError("prob: contains NaN")
        if prob.size and (prob.min() < 0 or prob.max() > 1):
            raise MetricInputError(f"prob: values must lie in [0, 1], found [{prob.min()}, {prob.max()}]")
        if with_valid:
            prob, ref = prob[part[2]], ref[part[2]]
        values, inverse = np.unique(prob, return_inverse=True)
        total = np.bincount(inverse, minlength=len(values))
        pos = np.bincount(inverse[ref], minlength=len(values))
        pending.append((values, total - pos, pos))
        waiting += len(values)
        if waiting >= max(size, chunk):  # merge when the pending rows outnumber the table: O(n log n) in all
            table = [_merge(table + pending)]
            size, pending, waiting = len(table[0][0]), [], 0
    if not table and not pending:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    values, neg, pos = _merge(table + pending)
    return values + 0.0, neg, pos  # + 0.0 turns a -0.0 into 0.0


def scores_from_counts(values: np.ndarray, neg: np.ndarray, pos: np.ndarray) -> ThresholdFree:
    """The scores from the distinct values (ascending) and their negative and positive pixel counts."""
    positives, negatives = int(pos.sum()), int(neg.sum())
    pixels = positives + negatives
    if pixels == 0:
        return ThresholdFree(math.nan, math.nan, math.nan, math.nan, 0, 0)
    auroc = auprc = math.nan
    if positives and negatives:
        # Mann-Whitney U, doubled so that ties (half credit) stay integers; exact while it fits in int64
        kind = np.int64 if 2 * positives * negatives < 2**63 else np.float64
        below = np.cumsum(neg) - neg
        twice_u = int(np.dot(pos.astype(kind), (2 * below + neg).astype(kind)))
        auroc = twice_u / (2 * positives * negatives)
    # thresholds from the highest value down: the pixels with prob >= t
    tp, fp = np.cumsum(pos[::-1]), np.cumsum(neg[::-1])
    if positives and negatives:
        auprc = float(np.sum(pos[::-1] * (tp / (tp + fp)))) / positives
    dice = 2.0 * tp / (tp + fp + positives)
    best = int(np.argmax(dice))  # the first maximum: the highest threshold among equals
    return ThresholdFree(auroc, auprc, float(dice[best]), float(values[::-1][best]), positives, pixels)


def threshold_free(prob: object, ref: object, valid: object | None = None, *, chunk: int = CHUNK) -> ThresholdFree:
    """AUROC, AUPRC and the best-threshold Dice of probabilities ``prob`` against the mask ``ref``.

    All pixels are pooled (any shape; ``ref`` and ``valid`` have the same
    shape). ``valid`` (bool) restricts the scores to those pixels, e.g. the
    brain. ``prob`` must lie in [0, 1] everywhere, also outside ``valid``;
    NaN raises :class:`MetricInputError`.

    * ``auroc``: area under the pixel ROC curve, with ties handled exactly:
      the Mann-Whitney statistic, P(prob of a positive > prob of a
      negative) + 1/2 P(equal).
    * ``auprc``: average precision, Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct
      probability values t as thresholds (positive when ``prob >= t``),
      the definition of scikit-learn's ``average_precision_score``.
    * ``best_dice``, ``best_threshold``: the largest pooled Dice
      2TP/(2TP+FP+FN) over the distinct values t as thresholds, and the
      highest t that reaches it. Optimistic: t is chosen on the data scored.

    No positives or no negatives: ``auroc`` and ``auprc`` are NaN (not 0;
    scikit-learn would give AP 1 without negatives). ``best_dice`` is 1
    without negatives and 0 without positives (every threshold predicts
    some pixel). ``chunk`` pixels are read at a time.
    """
    prob, ref = np.asarray(prob), np.asarray(ref)
    masks = [ref] if valid is None else [ref, np.asarray(valid)]
    for name, mask in zip(("ref", "valid"), masks):
        _mask_dtype(mask, name)
        if mask.shape != prob.shape:
            raise MetricInputError(f"{name} shape {mask.shape} differs from prob shape {prob.shape}")
    if prob.dtype == bool or np.issubdtype(prob.dtype, np.integer):
        dtype = np.dtype(np.float16)
    elif np.issubdtype(prob.dtype, np.floating):
        dtype = prob.dtype
    else:
        raise MetricInputError(f"prob: expected probabilities (floating point), got {prob.dtype}")
    chunks = _chunks(prob, masks, dtype, chunk)
    if dtype == np.float16:
        table = _table_float16(chunks, valid is not None)
    else:
        table = _table_exact(chunks, valid is not None, chunk)
    return scores_from_counts(*table)
