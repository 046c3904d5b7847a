"""Built-in metrics: of masks, Dice, HD95, HD, ASSD, AVD (two variants) and per-patient Dice; of probability maps,
pixel AUROC, AUPRC and the best-threshold Dice.

Each mask metric's factory takes ``empty="default"|"brats"`` (the empty-mask
convention) and returns a :class:`pathogan_bench.metrics.Metric`; each map
metric's returns a :class:`pathogan_bench.metrics.registered.MapMetric`.
"""

from __future__ import annotations

import functools

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.metrics import BUILTIN, get_metric
from pathogan_bench.metrics.registered import MAP_METRICS, MapMetric
from pathogan_bench.plugin import Metric
from pathogan_bench.registry import Spec


def _factory(name: str, empty: str | None = None) -> Metric:
    return get_metric(name, empty=empty)


def _map_factory(name: str) -> MapMetric:
    return MAP_METRICS[name]


@hookimpl
def register_metrics():
    maps = [
        Spec(
            name,
            functools.partial(_map_factory, name),
            f"{metric.description} [input: probability map]",
            tags={"higher_is_better": "true", "unit": metric.unit, "level": metric.level, "input": "map"},
        )
        for name, metric in MAP_METRICS.items()
    ]
    return maps + [
        Spec(
            name,
            functools.partial(_factory, name),
            f"{metric.description} [matches {metric.reference}]",
            tags={
                "higher_is_better": str(metric.higher_is_better).lower(),
                "unit": metric.unit,
                "level": metric.level,
                "input": "mask",
            },
        )
        for name, metric in BUILTIN.items()
    ]
