"""Scoring many mask pairs at once: validation, chunking, threads, empty conventions."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast, overload

import numpy as np

from ..errors import UserError
from .core import DISTANCE_METRICS, score_chunk
from .empty import CASE_NAMES, EmptyConvention, classify, get_convention

#: the metrics the kernel computes, one value per pair (slice or volume), all in one pass
KERNEL_METRICS = ("dice",) + DISTANCE_METRICS
#: the paper's Table 1 metrics of one pair: the default of the scoring functions
TABLE1_METRICS = ("dice", "hd95", "avd")


class MetricInputError(UserError, ValueError):
    """Masks or options a metric cannot score."""


def as_mask(array: object, what: str = "mask") -> np.ndarray:
    """A boolean view or copy of ``array``: bool as is, integers as ``!= 0``; floats are refused."""
    array = np.asarray(array)
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return array != 0
    raise MetricInputError(
        f"{what}: expected a boolean or integer mask, got {array.dtype} (threshold probabilities first)"
    )


def normalise_spacing(spacing: float | Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """``None`` -> all ones; a number -> isotropic; a sequence must have one positive entry per image axis."""
    if spacing is None:
        return (1.0,) * ndim
    if np.isscalar(spacing):
        values = (float(cast(float, spacing)),) * ndim
    else:
        values = tuple(float(s) for s in cast(Sequence[float], spacing))
    if len(values) != ndim:
        raise MetricInputError(f"spacing {values} has {len(values)} entries for {ndim}-D images")
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise MetricInputError(f"spacing {values} must be positive and finite")
    return values


def default_workers() -> int:
    """Threads to use: the CPUs this process may run on, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


@dataclass
class BatchScores:
    """Per-pair metric values of a batch, with the empty-mask case of each pair."""

    values: dict[str, np.ndarray]
    case: np.ndarray
    pred_px: np.ndarray
    ref_px: np.ndarray
    overlap_px: np.ndarray
    convention: str

    def case_names(self) -> np.ndarray:
        return np.asarray(CASE_NAMES, dtype=object)[self.case]

    def undefined(self, metric: str) -> int:
        """How many pairs have no value (NaN) for ``metric``."""
        return int(np.isnan(self.values[metric]).sum())


def _check_names(metrics: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(metrics))
    for name in names:
        if name == "dice_pp":
            raise MetricInputError(f"'{name}' is a per-patient metric: use pathogan_bench.metrics.dice_pp")
        if name not in KERNEL_METRICS:
            raise MetricInputError(f"unknown metric '{name}'; the scoring kernel computes {', '.join(KERNEL_METRICS)}")
    return names


def apply_convention(name: str, values: np.ndarray, case: np.ndarray, convention: EmptyConvention) -> np.ndarray:
    """Replace ``values`` (in place) where ``convention`` fixes the metric for a pair's case."""
    kind = "overlap" if name == "dice" else "distance"
    for code in np.unique(case):
        fixed = convention.value(name, kind, int(code))
        if fixed is not None:
            values[case == code] = fixed
    return values


def score_batch(
    pred: object,
    ref: object,
    metrics: Sequence[str] = TABLE1_METRICS,
    spacing: float | Sequence[float] | None = None,
    empty: str | EmptyConvention | None = "default",
    workers: int | None = None,
) -> BatchScores:
    """Score each pair ``pred[i]``, ``ref[i]`` (axis 0 = items; each item 2D or 3D).

    ``spacing`` has one entry per image axis (not the batch axis).
    ``workers`` threads share the work (``None``: :func:`default_workers`);
    scipy's distance transform runs without the GIL.
    """
    pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
    if pred.shape != ref.shape:
        raise MetricInputError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    if pred.ndim < 2:
        raise MetricInputError(f"expected a batch of images (items, ...), got shape {pred.shape}")
    names = _check_names(metrics)
    convention = get_convention(empty)
    steps = normalise_spacing(spacing, pred.ndim - 1)
    distance = tuple(m for m in names if m in DISTANCE_METRICS)
    n = pred.shape[0]
    workers = default_workers() if workers is None else max(1, int(workers))
    chunk = int(min(256, max(8, math.ceil(n / (workers * 8)))))
    starts = range(0, n, chunk)
    run = lambda s: score_chunk(pred[s : s + chunk], ref[s : s + chunk], steps, distance)  # noqa: E731
    if workers == 1 or n <= chunk:
        parts = [run(s) for s in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, starts))
    joined = {
        k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
        for k in ("pred_px", "ref_px", "overlap_px", "case") + distance
    }
    case = joined["case"].astype(np.int8)
    values: dict[str, np.ndarray] = {}
    for name in names:
        if name == "dice":
            total = joined["pred_px"] + joined["ref_px"]
            with np.errstate(invalid="ignore", divide="ignore"):
                raw = 2.0 * joined["overlap_px"] / total.astype(np.float64)
        else:
            raw = joined[name].astype(np.float64)
        values[name] = apply_convention(name, raw, case, convention)
    return BatchScores(values, case, joined["pred_px"], joined["ref_px"], joined["overlap_px"], convention.name)


def score_slices(
    pred: object,
    ref: object,
    metrics: Sequence[str] = TABLE1_METRICS,
    spacing: float | Sequence[float] | None = None,
    empty: str | EmptyConvention | None = "default",
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-slice metrics of stacks ``pred[N,H,W]``, ``ref[N,H,W]``: ``{metric: float64 array of N}``.

    >>> score_slices(pred, ref, metrics=("dice", "hd95", "avd"), spacing=(1, 1))["hd95"]
    """
    return score_batch(pred, ref, metrics, spacing, empty, workers).values


@overload
def dice_pp(
    pred: object, ref: object, patient: None = None, empty: str | EmptyConvention | None = "default"
) -> float: ...
@overload
def dice_pp(
    pred: object, ref: object, patient: Sequence[str] | np.ndarray, empty: str | EmptyConvention | None = "default"
) -> dict[str, float]: ...
@overload
def dice_pp(
    pred: object,
    ref: object,
    patient: Sequence[str] | np.ndarray | None = None,
    empty: str | EmptyConvention | None = "default",
) -> float | dict[str, float]: ...
def dice_pp(
    pred: object,
    ref: object,
    patient: Sequence[str] | np.ndarray | None = None,
    empty: str | EmptyConvention | None = "default",
) -> float | dict[str, float]:
    """Per-patient volumetric Dice: the Dice of all of a patient's slices stacked.

    Without ``patient``, the whole input is one stack and a float is
    returned; with it (one id per slice), ``{patient: Dice}`` in order of
    first appearance.
    """
    pred, ref = as_mask(pred, "prediction"), as_mask(ref, "reference")
    if pred.shape != ref.shape:
        raise MetricInputError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    if patient is None:
        return float(
            score_batch(pred.reshape(1, -1, 1), ref.reshape(1, -1, 1), ("dice",), empty=empty, workers=1).values[
                "dice"
            ][0]
        )
    patient = np.asarray(patient)
    if patient.shape != pred.shape[:1]:
        raise MetricInputError(f"{len(patient)} patient ids for {pred.shape[0]} slices")
    n = pred.shape[0]
    flat_p, flat_r = pred.reshape(n, -1), ref.reshape(n, -1)
    p_px = np.count_nonzero(flat_p, axis=1)
    r_px = np.count_nonzero(flat_r, axis=1)
    o_px = np.count_nonzero(flat_p & flat_r, axis=1)
    ids, first, inverse = np.unique(patient, return_index=True, return_inverse=True)
    order = np.argsort(first)
    p_sum = np.bincount(inverse, p_px, len(ids))
    r_sum = np.bincount(inverse, r_px, len(ids))
    o_sum = np.bincount(inverse, o_px, len(ids))
    case = classify(p_sum, r_sum, o_sum)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = 2.0 * o_sum / (p_sum + r_sum)
    values = apply_convention("dice", raw, case, get_convention(empty))
    return {str(ids[k]): float(values[k]) for k in order}
