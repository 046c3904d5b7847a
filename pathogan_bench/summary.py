"""A run's scores as data: per split, every metric as a :class:`Stat` (mean, std, median, defined and undefined
counts), the whole-scan, threshold-policy and translation scores, and the run facts a report shows.

Statistics are over the slices (or patients, for ``dice_pp``) whose value is
defined; undefined values (NaN, e.g. a distance with one empty mask) are
left out and counted. The standard deviation is the sample one (``ddof=1``).
Rendering is :mod:`pathogan_bench.report`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data.splits import SPLIT_NAMES
from .metrics import BUILTIN
from .metrics.registered import MetricFacts
from .metrics.registered import metric_facts as registered_facts
from .registry import get_registry

SPLIT_LABELS = {"train": "Tr", "val": "Va", "test": "Te"}
#: the map metrics of a summary written before map metrics were registered
DEFAULT_MAP_METRICS = ("auroc", "auprc", "best_dice")
#: run.json facts carried into the summary
RUN_FIELDS = (
    "model",
    "supervision",
    "loss_set",
    "dataset",
    "data",
    "modalities",
    "seed",
    "device",
    "spacing",
    "skipped_cases",
    "skip_reasons",
    "unlabelled_cases",
    "image_size",
    "steps",
    "steps_done",
    "train_seconds",
    "skipped_updates",
    "split_sizes",
    "threshold",
    "seeds",
    "split_protocol",
    "folds",
    "label_fraction",
    "test_data",
    "healthy_data",
    "training_data",
    "level_separation",
    "level_matched",
    "level_matching",
    "policies",
    "postprocess",
)


@dataclass
class Stat:
    """Statistics of one metric over one split."""

    mean: float
    std: float
    median: float
    n: int
    undefined: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        ok = arr[~np.isnan(arr)]
        if not len(ok):
            return cls(math.nan, math.nan, math.nan, 0, int(len(arr)))
        std = float(np.std(ok, ddof=1)) if len(ok) > 1 else math.nan
        return cls(float(np.mean(ok)), std, float(np.median(ok)), int(len(ok)), int(len(arr) - len(ok)))


@dataclass
class Summary:
    """A run's scores: run facts and, per split, a :class:`Stat` per metric."""

    run: dict[str, Any]
    metrics: list[str]
    empty: str
    unit: str
    splits: dict[str, dict[str, Stat]] = field(default_factory=dict)
    #: per split: evaluated slices, and slices where at least one distance metric is undefined
    slices: dict[str, int] = field(default_factory=dict)
    undefined_slices: dict[str, int] = field(default_factory=dict)
    #: whole-scan scores (pathogan_bench.evaluation.clinical), per split: volumetric Stats over patients,
    #: false positives, threshold-free scores, and which slices were scored
    volumes: dict[str, dict[str, Stat]] = field(default_factory=dict)
    detection: dict[str, dict[str, Any]] = field(default_factory=dict)
    threshold_free: dict[str, dict[str, float]] = field(default_factory=dict)
    scope: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: per split, for a model that translates to healthy: the mean change outside the reference lesion on
    #: pathological slices and over the whole brain on healthy ones (pathogan_bench.engine.infer.change_outside_lesion)
    translation: dict[str, dict[str, float]] = field(default_factory=dict)
    #: metrics of probability maps (values per split in ``threshold_free``), by registry name
    map_metrics: list[str] = field(default_factory=list)
    #: per split: one row per (post-processing chain, threshold policy) (pathogan_bench.evaluation.policy_grid)
    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: the post-processing steps the "after" rows applied, in order
    postprocess: list[str] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.run.get("model", "?"))

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        splits = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("splits", {}).items()}
        volumes = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("volumes", {}).items()}
        detection = {
            s: {k: _stat(v) if k in ("fp_ml", "fp_ml_healthy") else _nan(v) for k, v in per.items()}
            for s, per in data.get("detection", {}).items()
        }
        threshold_free = {s: {k: _nan(v) for k, v in per.items()} for s, per in data.get("threshold_free", {}).items()}
        return cls(
            data.get("run", {}),
            list(data.get("metrics", [])),
            data.get("empty", "default"),
            data.get("unit", "px"),
            splits,
            dict(data.get("slices", {})),
            dict(data.get("undefined_slices", {})),
            volumes,
            detection,
            threshold_free,
            dict(data.get("scope", {})),
            list(data.get("notes", [])),
            translation={sp: {k: _nan(v) for k, v in per.items()} for sp, per in data.get("translation", {}).items()},
            map_metrics=list(data.get("map_metrics", [])),
            policies={sp: [_nan_tree(row) for row in rows] for sp, rows in data.get("policies", {}).items()},
            postprocess=list(data.get("postprocess", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> Summary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _stat(data: dict[str, Any]) -> Stat:
    return Stat(**{k: _nan(v) for k, v in data.items()})


def _nan(v: Any) -> Any:
    return math.nan if v is None else v


def _nan_tree(obj: Any) -> Any:
    """JSON's null back to NaN, in nested dicts."""
    if isinstance(obj, dict):
        return {k: _nan_tree(v) for k, v in obj.items()}
    return _nan(obj)


def _clean(obj: Any) -> Any:
    """JSON has no NaN: write null."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def distance_unit(spacing: Sequence[float] | None) -> str:
    """``mm`` when the images' voxel spacing is known (NIfTI headers give it in mm), ``px`` otherwise."""
    return "px" if spacing is None else "mm"


def metric_facts(metric: str) -> MetricFacts:
    """What the registry says of ``metric`` (a name no installed plugin registers: a ratio-less generic column)."""
    try:
        return registered_facts(get_registry(), metric)
    except Exception:  # a summary scored with a plugin that is not installed here
        entry = BUILTIN.get(metric)
        unit = entry.unit if entry is not None else ""
        higher = entry.higher_is_better if entry is not None else True
        return MetricFacts(metric, "mask", higher, unit, "pair", metric)


def is_ratio(metric: str) -> bool:
    return metric_facts(metric).unit == "ratio"


def summarise(
    slices: pd.DataFrame, patients: pd.DataFrame, run: dict[str, Any], metrics: Sequence[str], empty: str
) -> Summary:
    """Statistics per split of the per-slice and per-patient tables."""
    run = {k: run[k] for k in RUN_FIELDS if k in run}
    summary = Summary(run, list(metrics), empty, distance_unit(run.get("spacing")))
    present = [s for s in SPLIT_NAMES if s in set(slices["split"])] + sorted(set(slices["split"]) - set(SPLIT_NAMES))
    distance = [m for m in metrics if m in slices.columns and not is_ratio(m)]
    for split in present:
        rows = slices[slices["split"] == split]
        per = {}
        for m in metrics:
            if m in slices.columns:
                per[m] = Stat.of(rows[m].to_numpy(np.float64))
            elif m in patients.columns:
                per[m] = Stat.of(patients.loc[patients["split"] == split, m].to_numpy(np.float64))
        summary.splits[split] = per
        summary.slices[split] = int(len(rows))
        summary.undefined_slices[split] = int(rows[distance].isna().any(axis=1).sum()) if distance else 0
    return summary


def format_stat(stat: Stat, percent: bool = False, digits: int = 1) -> str:
    """``mean ± std (median)``; Dice-like values times 100 when ``percent``."""
    if stat.n == 0:
        return "–"
    scale = 100.0 if percent else 1.0
    std = "–" if math.isnan(stat.std) else f"{stat.std * scale:.{digits}f}"
    return f"{stat.mean * scale:.{digits}f} ± {std} ({stat.median * scale:.{digits}f})"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def percent_cell(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"
