"""Built-in segmentation metrics: Dice, HD95, HD, ASSD, AVD (two variants) and per-patient Dice.

Each factory takes ``empty="default"|"brats"`` (the empty-mask convention)
and returns a :class:`pathogan_bench.metrics.Metric`.
"""

from __future__ import annotations

import functools

from pathogan_bench.hookspecs import hookimpl
from pathogan_bench.metrics import BUILTIN, get_metric
from pathogan_bench.plugin import Metric
from pathogan_bench.registry import Spec


def _factory(name: str, empty: str | None = None) -> Metric:
    return get_metric(name, empty=empty)


@hookimpl
def register_metrics():
    return [
        Spec(
            name,
            functools.partial(_factory, name),
            f"{metric.description} [matches {metric.reference}]",
            tags={"higher_is_better": str(metric.higher_is_better).lower(), "unit": metric.unit, "level": metric.level},
        )
        for name, metric in BUILTIN.items()
    ]
