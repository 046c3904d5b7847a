"""The axial level of slices, and how well the level alone tells healthy from pathological training slices.

A weakly supervised model learns to tell healthy from pathological slices.
When the healthy slices of the training data lie at other axial levels than
the pathological ones (small datasets: healthy slices above and below the
tumours), the level alone tells them apart, and a model may learn anatomy
instead of lesions: it then "heals" mid-level anatomy (ventricles, frontal
lobe) of every slice. :func:`level_separation` measures that shortcut;
:func:`matching_weights` removes it from the training batches.

A slice's level is normalised per patient: 0 at the patient's lowest slice
in the data, 1 at its highest, so that patients of different head sizes and
slice ranges share one scale. Levels are binned into :data:`LEVEL_BINS`
bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: bins of the normalised level (tenths of each patient's extent)
LEVEL_BINS = 10
#: level AUROC from which a run warns: a classifier that sees nothing but the slice's level already ranks four of
#: five healthy-pathological pairs correctly, so the level is a cue a model can learn instead of the lesion
SHORTCUT_WARNING = 0.8


def normalised_levels(patient: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Each slice's level within its patient's slices: (z - lowest) / (highest - lowest); 0.5 for a patient with
    one slice level."""
    z = np.asarray(z, dtype=np.float64)
    out = np.full(len(z), 0.5)
    patient = np.asarray(patient)
    for pid in np.unique(patient):
        rows = patient == pid
        lo, hi = z[rows].min(), z[rows].max()
        if hi > lo:
            out[rows] = (z[rows] - lo) / (hi - lo)
    return out


def level_bins(levels: np.ndarray, bins: int = LEVEL_BINS) -> np.ndarray:
    """The bin (0 .. bins - 1) of each normalised level."""
    return np.clip((np.asarray(levels) * bins).astype(np.int64), 0, bins - 1)


@dataclass(frozen=True)
class LevelSeparation:
    """How well the normalised level alone separates healthy from pathological slices."""

    #: AUROC of the binned level's own classifier (the pathological fraction of each bin, as the score):
    #: 1 when no bin holds both domains, about 0.5 when both have the same distribution over levels
    auroc: float
    #: normalised levels spanned by the bins that hold both domains, first to last (None: none does)
    shared_range: tuple[float, float] | None
    healthy: int
    pathological: int
    #: slices of each domain in the bins that hold both
    healthy_shared: int
    pathological_shared: int
    bins: int = LEVEL_BINS
    #: the bins that hold both domains
    shared_bins: tuple[int, ...] = ()

    @property
    def high(self) -> bool:
        return self.auroc >= SHORTCUT_WARNING

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shared_range"] = list(self.shared_range) if self.shared_range is not None else None
        out["shared_bins"] = list(self.shared_bins)
        return out

    def sentence(self) -> str:
        shared = (
            f"both domains at normalised levels {bin_ranges(self.shared_bins, self.bins)} "
            f"({self.healthy_shared} of {self.healthy} healthy, {self.pathological_shared} of "
            f"{self.pathological} pathological slices)"
            if self.shared_bins
            else "no level holds both domains"
        )
        return f"the axial level alone separates the training domains with AUROC {self.auroc:.2f}; {shared}"


def level_separation(levels: np.ndarray, pathological: np.ndarray, bins: int = LEVEL_BINS) -> LevelSeparation:
    """The shortcut's strength for slices at normalised ``levels`` whose domain is ``pathological`` (bool)."""
    pathological = np.asarray(pathological, dtype=bool)
    binned = level_bins(levels, bins)
    n_path = np.bincount(binned[pathological], minlength=bins)
    n_healthy = np.bincount(binned[~pathological], minlength=bins)
    shared = (n_path > 0) & (n_healthy > 0)
    total = n_path + n_healthy
    score = np.divide(n_path, total, out=np.zeros(bins), where=total > 0)[binned]
    auroc = rank_auroc(score[pathological], score[~pathological])
    where = np.flatnonzero(shared)
    return LevelSeparation(
        auroc=auroc,
        shared_range=(where[0] / bins, (where[-1] + 1) / bins) if len(where) else None,
        healthy=int((~pathological).sum()),
        pathological=int(pathological.sum()),
        healthy_shared=int(n_healthy[shared].sum()),
        pathological_shared=int(n_path[shared].sum()),
        bins=bins,
        shared_bins=tuple(int(b) for b in where),
    )


def bin_ranges(shared_bins: Sequence[int], bins: int = LEVEL_BINS) -> str:
    """Level bins as merged ranges of normalised level, e.g. "0.0-0.1, 0.5-0.7"; "none" for no bin."""
    if not shared_bins:
        return "none"
    runs: list[list[int]] = []
    for b in sorted(shared_bins):
        if runs and b == runs[-1][1] + 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return ", ".join(f"{lo / bins:.1f}-{(hi + 1) / bins:.1f}" for lo, hi in runs)


def rank_auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney); NaN without both."""
    if not len(positive) or not len(negative):
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positive, negative]))
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def matching_weights(
    levels: np.ndarray, pathological: np.ndarray, bins: int = LEVEL_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Sampling weights under which healthy and pathological slices have the same distribution over levels.

    Only bins that hold both domains are kept (weight 0 elsewhere). Within
    them the pathological slices keep weight 1 each, and each healthy slice
    of bin b gets p_b / h_b (p_b, h_b: the bin's pathological and healthy
    counts), so that drawing by weight gives healthy slices the pathological
    slices' distribution over the shared bins. Returns (healthy weights,
    pathological weights), each summing to 1, over the healthy and the
    pathological slices in their given order.
    """
    pathological = np.asarray(pathological, dtype=bool)
    binned = level_bins(levels, bins)
    n_path = np.bincount(binned[pathological], minlength=bins)
    n_healthy = np.bincount(binned[~pathological], minlength=bins)
    shared = (n_path > 0) & (n_healthy > 0)
    if not shared.any():
        raise ValueError("no axial level holds both healthy and pathological slices; nothing can be matched")
    per_bin = np.divide(n_path, n_healthy, out=np.zeros(bins), where=shared)
    healthy = per_bin[binned[~pathological]]
    patho = shared[binned[pathological]].astype(np.float64)
    return healthy / healthy.sum(), patho / patho.sum()
