"""What a metric returns when a mask is empty: named, selectable conventions.

Every (prediction, reference) pair falls into one *case*:

=============  ==============================================
``normal``     both masks non-empty and overlapping
``no_overlap`` both non-empty, no pixel in common
``pred_empty`` prediction empty, reference not
``ref_empty``  reference empty, prediction not
``both_empty`` both empty
=============  ==============================================

A convention fixes the value of every metric in the cases where the
definition does not give one (an empty point set has no distances). ``None``
in the tables below means "computed from the definition".

``default``
    Both empty: Dice 1, every distance 0 (a perfect, empty answer).
    One empty: Dice 0, every distance NaN; NaN marks the value as
    undefined, and reports count these slices instead of hiding them.
``brats``
    As the BraTS evaluation package: both empty gives NaN for every metric
    (the slice drops out of means). HD95 is 373 (the diagonal of a BraTS
    volume in mm) when one mask is empty *or* the masks do not overlap,
    even though a real distance exists in the second case. Dice is 0 when
    one mask is empty; the other distances are NaN then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError

NORMAL, NO_OVERLAP, PRED_EMPTY, REF_EMPTY, BOTH_EMPTY = range(5)
CASE_NAMES = ("normal", "no_overlap", "pred_empty", "ref_empty", "both_empty")

#: the HD95 penalty of the BraTS evaluation (``parse_seg_results`` turns inf into it)
BRATS_PENALTY = 373.0

NAN = math.nan


@dataclass(frozen=True)
class EmptyConvention:
    """Values that replace a metric in the cases its definition leaves open.

    ``values[metric][case]`` is the value to return, or the key is absent
    to compute the metric. ``"*distance"`` holds the fallback for every
    distance metric without an entry of its own.
    """

    name: str
    description: str
    values: dict[str, dict[int, float]] = field(default_factory=dict)

    def value(self, metric: str, kind: str, case: int) -> float | None:
        table = self.values.get(metric)
        if table is None:
            table = self.values.get("*" + kind, {})
        return table.get(case)


DEFAULT = EmptyConvention(
    "default",
    "both empty: Dice 1, distances 0; one empty: Dice 0, distances NaN (undefined, counted)",
    {
        "*overlap": {BOTH_EMPTY: 1.0, PRED_EMPTY: 0.0, REF_EMPTY: 0.0},
        "*distance": {BOTH_EMPTY: 0.0, PRED_EMPTY: NAN, REF_EMPTY: NAN},
    },
)

BRATS = EmptyConvention(
    "brats",
    "BraTS evaluation: both empty: NaN for all; HD95 373 when one is empty or they do not overlap; "
    "one empty: Dice 0, other distances NaN",
    {
        "*overlap": {BOTH_EMPTY: NAN, PRED_EMPTY: 0.0, REF_EMPTY: 0.0},
        "*distance": {BOTH_EMPTY: NAN, PRED_EMPTY: NAN, REF_EMPTY: NAN},
        "hd95": {BOTH_EMPTY: NAN, PRED_EMPTY: BRATS_PENALTY, REF_EMPTY: BRATS_PENALTY, NO_OVERLAP: BRATS_PENALTY},
    },
)

CONVENTIONS: dict[str, EmptyConvention] = {c.name: c for c in (DEFAULT, BRATS)}


def get_convention(empty: str | EmptyConvention | None) -> EmptyConvention:
    """The convention named ``empty`` (``None`` = ``default``)."""
    if empty is None:
        return DEFAULT
    if isinstance(empty, EmptyConvention):
        return empty
    try:
        return CONVENTIONS[empty]
    except KeyError:
        raise UserError(f"unknown empty-mask convention '{empty}'; choose one of {', '.join(CONVENTIONS)}") from None


def classify(pred_px: np.ndarray, ref_px: np.ndarray, overlap_px: np.ndarray) -> np.ndarray:
    """The case code of each pair from its pixel counts (arrays of equal length)."""
    pred_px, ref_px, overlap_px = (np.asarray(a) for a in (pred_px, ref_px, overlap_px))
    case = np.full(pred_px.shape, NORMAL, dtype=np.int8)
    case[overlap_px == 0] = NO_OVERLAP
    case[(pred_px == 0) & (ref_px > 0)] = PRED_EMPTY
    case[(pred_px > 0) & (ref_px == 0)] = REF_EMPTY
    case[(pred_px == 0) & (ref_px == 0)] = BOTH_EMPTY
    return case
