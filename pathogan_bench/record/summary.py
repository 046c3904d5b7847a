"""A run's scores as data: per split, every metric as a :class:`Stat` (mean, std, median, defined and undefined
counts), the whole-scan, threshold-policy and translation scores, the facts of every metric scored, and the run
facts a report shows (:class:`~pathogan_bench.record.facts.RunFacts`).

Statistics are over the slices (or patients, for ``dice_pp``) whose value is
defined; undefined values (NaN, e.g. a distance with one empty mask) are
left out and counted. The standard deviation is the sample one (``ddof=1``).
Rendering is :mod:`pathogan_bench.reporting`'s; it reads every metric's label and unit from the summary itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contracts.metric import MetricFacts
from ..data.splits import SPLIT_NAMES
from .facts import RunFacts

#: the facts of a metric by its name, or None when unknown
FactsOf = Callable[[str], MetricFacts | None]
#: the map metrics every summary written before they were registered holds
OLDER_MAP_METRICS = ("auroc", "auprc", "best_dice")


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

    run: RunFacts
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
    #: what each metric scored here is (label, unit, direction), taken from it at scoring time
    metric_facts: dict[str, MetricFacts] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.run.model

    def facts(self, metric: str) -> MetricFacts:
        """The facts of a metric of this summary (a name it has none for: a unit-less column of that name)."""
        return self.metric_facts.get(metric) or MetricFacts(metric, "mask", True, "", "pair", metric)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run"] = self.run.summary_dict()
        data["metric_facts"] = {name: facts.to_dict() for name, facts in self.metric_facts.items()}
        return _clean(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any], facts_of: FactsOf | None = None) -> Summary:
        """A summary.json's contents, migrated: ``facts_of(name)`` supplies the facts of the metrics a summary
        written by an older version does not hold (None: that column keeps its name and no unit)."""
        splits = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("splits", {}).items()}
        volumes = {s: {m: _stat(st) for m, st in per.items()} for s, per in data.get("volumes", {}).items()}
        detection = {
            s: {k: _stat(v) if k in ("fp_ml", "fp_ml_healthy") else _nan(v) for k, v in per.items()}
            for s, per in data.get("detection", {}).items()
        }
        threshold_free = {s: {k: _nan(v) for k, v in per.items()} for s, per in data.get("threshold_free", {}).items()}
        facts = {name: MetricFacts.from_dict(f) for name, f in (data.get("metric_facts") or {}).items()}
        # summaries written before map metrics were registered scored the built-in ones
        map_metrics = list(data.get("map_metrics") or OLDER_MAP_METRICS)
        for name in [*data.get("metrics", []), *map_metrics]:
            found = facts_of(name) if facts_of is not None and name not in facts else None
            if found is not None:
                facts[name] = found
        return cls(
            RunFacts.from_dict(data.get("run", {})),
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
            map_metrics=map_metrics,
            policies={sp: [_nan_tree(row) for row in rows] for sp, rows in data.get("policies", {}).items()},
            postprocess=list(data.get("postprocess", [])),
            metric_facts=facts,
        )

    @classmethod
    def load(cls, path: str | Path, facts_of: FactsOf | None = None) -> Summary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), facts_of)


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


def summarise(
    slices: pd.DataFrame,
    patients: pd.DataFrame,
    run: RunFacts,
    metrics: Sequence[str],
    empty: str,
    facts: Mapping[str, MetricFacts],
) -> Summary:
    """Statistics per split of the per-slice and per-patient tables."""
    summary = Summary(run, list(metrics), empty, distance_unit(run.spacing), metric_facts=dict(facts))
    present = [s for s in SPLIT_NAMES if s in set(slices["split"])] + sorted(set(slices["split"]) - set(SPLIT_NAMES))
    distance = [m for m in metrics if m in slices.columns and not summary.facts(m).is_ratio]
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


def distance_unit(spacing: Sequence[float] | None) -> str:
    """``mm`` when the images' voxel spacing is known (NIfTI headers give it in mm), ``px`` otherwise."""
    return "px" if spacing is None else "mm"
