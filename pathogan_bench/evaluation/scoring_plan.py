"""What a run is scored with, resolved once from the registry: the metric objects with their facts, the threshold
policies and the post-processing steps. Scoring and reporting read them from here and never look a component up
again."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.schema import EvalConfig
from ..contracts.metric import MapMetric, MaskMetric, MetricFacts
from ..contracts.postprocess import PostprocessStep
from ..contracts.threshold_policy import ThresholdPolicy
from ..errors import UserError
from ..metrics.empty import get_convention
from .postprocess import parse_step


@dataclass(frozen=True)
class ScoringPlan:
    """The metrics, threshold policies and post-processing of a run, created by the registry."""

    #: metrics of masks (Table 1 and per patient), by registry name, in the configured order
    mask_metrics: dict[str, MaskMetric]
    #: metrics of probability maps (whole scans), by registry name
    map_metrics: dict[str, MapMetric]
    #: the empty-mask convention of the mask metrics
    empty: str = "default"
    policies: tuple[ThresholdPolicy, ...] = ()
    postprocess: tuple[PostprocessStep, ...] = ()
    #: every metric's facts, as reports show them and summaries keep them
    facts: dict[str, MetricFacts] = field(default_factory=dict)

    @property
    def needs_calibration(self) -> bool:
        """Whether a policy reads maps of the validation (or training) patients."""
        return any(policy.needs_calibration for policy in self.policies)

    @property
    def postprocess_labels(self) -> list[str]:
        return [step.label for step in self.postprocess]


def plan_scoring(
    registry: Any,
    metrics: Sequence[str],
    empty: str = "default",
    policies: Sequence[str] | None = None,
    postprocess: Sequence[str] = (),
) -> ScoringPlan:
    """Create every metric, policy and post-processing step a run names; an unknown name, a bad argument or a
    component that falls short of its contract fails here, before any work. When ``metrics`` names no map metric,
    the map metrics of the default list are scored too (the whole-scan table always has them)."""
    check_convention(empty)
    created = {name: create_metric(registry, name, empty) for name in dict.fromkeys(metrics)}
    masks = {name: m for name, m in created.items() if m.input == "mask"}
    maps = {name: m for name, m in created.items() if m.input == "map"}
    if not maps:
        defaults = {name: create_metric(registry, name, empty) for name in EvalConfig().metrics}
        maps = {name: m for name, m in defaults.items() if m.input == "map"}
    chosen = EvalConfig().policies if policies is None else policies
    return ScoringPlan(
        masks,  # type: ignore[arg-type]
        maps,  # type: ignore[arg-type]
        empty,
        tuple(create_with_argument(registry, "threshold-policy", text) for text in chosen),
        tuple(create_with_argument(registry, "postprocess", text) for text in postprocess),
        {name: MetricFacts.of(metric) for name, metric in {**masks, **maps}.items()},
    )


def check_convention(empty: str) -> None:
    """An unknown empty-mask convention is a :class:`UserError` naming ``eval.empty``."""
    try:
        get_convention(empty)
    except Exception as exc:
        raise UserError(f"eval.empty = {empty!r}: {exc}") from None


def create_metric(registry: Any, name: str, empty: str = "default") -> MaskMetric | MapMetric:
    """The metric ``name``, with the empty-mask convention ``empty`` when its factory takes one."""
    factory = registry.get("metric", name).spec.factory
    if _accepts(factory, "empty"):
        return registry.create("metric", name, empty=empty)
    return registry.create("metric", name)


def create_with_argument(registry: Any, kind: str, text: str) -> Any:
    """A threshold policy or post-processing step written ``NAME`` or ``NAME:ARGUMENT``; a factory that takes no
    argument but is given one, or raises ValueError for it, is a :class:`UserError` naming the text."""
    what = "threshold policy" if kind == "threshold-policy" else "post-processing step"
    name, argument = parse_step(text)
    factory = registry.get(kind, name).spec.factory
    if argument is not None and not _accepts(factory, None):
        raise UserError(f"{what} {text!r}: '{name}' takes no argument")
    try:
        return registry.create(kind, name, argument) if argument is not None else registry.create(kind, name)
    except ValueError as exc:
        raise UserError(f"{what} {text!r}: {exc}") from None


def _accepts(factory: Any, keyword: str | None) -> bool:
    """Whether ``factory`` takes the keyword ``keyword`` (None: one positional argument)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: call it as documented
        return True
    if keyword is None:
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return any(p.kind in positional or p.kind is p.VAR_POSITIONAL for p in parameters)
    return any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in parameters)
