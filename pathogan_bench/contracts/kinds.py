"""Every kind of plugin in one table: its registry name, the hook that registers it, the contract its components
meet and its factory's signature.

A component is checked against its kind's contract when the registry creates it
(:meth:`pathogan_bench.registry.Registry.create`): a component that lacks an attribute the engine reads, or states
a fact of the wrong type, is refused in one line naming the plugin it came from. ``pathogan-bench list`` shows
each component's facts as :func:`PluginKind.facts` reads them from the component itself.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .dataset import DatasetReader
from .logger import RunLogger
from .metric import MapMetric, MaskMetric, MetricFacts
from .postprocess import STAGES, PostprocessStep
from .threshold_policy import ThresholdPolicy

Problems = list[str]


def protocol_problems(component: Any, protocol: type) -> Problems:
    """What ``component`` lacks of ``protocol``: its typed attributes (str, bool: of that type) and its methods."""
    problems = []
    for name, hint in typing.get_type_hints(protocol).items():
        if not hasattr(component, name):
            problems.append(f"no attribute '{name}'")
        elif hint in (str, bool) and not isinstance(getattr(component, name), hint):
            problems.append(f"'{name}' is {getattr(component, name)!r}, not a {hint.__name__}")
    methods = [n for n, v in vars(protocol).items() if callable(v) and (n == "__call__" or not n.startswith("_"))]
    problems += [f"no method '{n}'" for n in methods if not callable(getattr(component, n, None))]
    return problems


def _metric_problems(metric: Any) -> Problems:
    kind = getattr(metric, "input", None)
    if kind not in ("mask", "map"):
        return [f"'input' is {kind!r}, not 'mask' or 'map'"]
    problems = protocol_problems(metric, MaskMetric if kind == "mask" else MapMetric)
    levels = ("pair", "patient") if kind == "mask" else ("split",)
    if not problems and metric.level not in levels:
        problems.append(f"'level' is {metric.level!r}; a {kind} metric's is one of {', '.join(levels)}")
    return problems


def _metric_facts(metric: Any) -> dict[str, str]:
    facts = MetricFacts.of(metric)
    return {
        "input": facts.input,
        "unit": facts.unit,
        "direction": "higher is better" if facts.higher_is_better else "lower is better",
        "level": facts.level,
    }


def _policy_problems(policy: Any) -> Problems:
    return protocol_problems(policy, ThresholdPolicy)


def _step_problems(step: Any) -> Problems:
    problems = protocol_problems(step, PostprocessStep)
    if not problems and step.stage not in STAGES:
        problems.append(f"'stage' is {step.stage!r}, not one of {', '.join(STAGES)}")
    return problems


def _model_factory_problems(factory: Any) -> Problems:
    from .model import SUPERVISION_KINDS, SegmentationModel

    if not (isinstance(factory, type) and issubclass(factory, SegmentationModel)):
        return ["its factory is not a SegmentationModel subclass"]
    if factory.supervision not in SUPERVISION_KINDS:
        return [f"'supervision' is {factory.supervision!r}, not one of {', '.join(SUPERVISION_KINDS)}"]
    return []


def _network_problems(network: Any) -> Problems:
    import torch

    return [] if isinstance(network, torch.nn.Module) else [f"returned {type(network).__name__}, not a torch.nn.Module"]


def _loss_set_problems(pairs: Any) -> Problems:
    ok = isinstance(pairs, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], (int, float))
        for p in pairs
    )
    return [] if ok else ["returned something other than a list of (term name, weight) pairs"]


def _callable_problems(term: Any) -> Problems:
    return [] if callable(term) else [f"returned {type(term).__name__}, which is not callable"]


@dataclass(frozen=True)
class PluginKind:
    """One kind of plugin component."""

    #: the registry name of the kind (``pathogan-bench list KIND``)
    name: str
    #: the hook (pathogan_bench.contracts.hookspecs) that registers components of this kind
    hook: str
    #: how the engine calls a factory of this kind
    factory_signature: str
    #: what the factory returns, and where its contract is written down
    returns: str
    #: problems of a created component (nothing listed: it meets the contract)
    component_problems: Callable[[Any], Problems] = lambda component: []
    #: problems of a factory, found before anything is created (models: the class states its facts)
    factory_problems: Callable[[Any], Problems] = lambda factory: []
    #: the facts ``list`` shows, read from a component created with its factory's defaults (None: none to show)
    component_facts: Callable[[Any], dict[str, str]] | None = None
    #: the facts ``list`` shows, read from the factory itself
    factory_facts: Callable[[Any], dict[str, str]] | None = None


KINDS: dict[str, PluginKind] = {
    kind.name: kind
    for kind in (
        PluginKind(
            "model",
            "register_models",
            "Model(ctx: ModelContext, **options)",
            "a SegmentationModel (pathogan_bench.contracts.model), the factory being its class",
            factory_problems=_model_factory_problems,
            factory_facts=lambda factory: {"supervision": factory.supervision},
        ),
        PluginKind(
            "generator",
            "register_generators",
            "factory(in_channels: int, out_channels: int, image_size: int, width: float = 1.0, **options)",
            "a torch.nn.Module mapping (B, in, H, W) images to (B, out, H, W)",
            component_problems=_network_problems,
        ),
        PluginKind(
            "discriminator",
            "register_discriminators",
            "factory(in_channels: int, width: float = 1.0, **options)",
            "a torch.nn.Module mapping (B, in, H, W) images to a map of realness scores",
            component_problems=_network_problems,
        ),
        PluginKind(
            "loss-term",
            "register_loss_terms",
            "factory(**options)",
            "a LossTerm: term(step) -> 0-d tensor (pathogan_bench.contracts.loss)",
            component_problems=_callable_problems,
        ),
        PluginKind(
            "loss-set",
            "register_loss_sets",
            "factory()",
            "a list of (loss-term name, weight) pairs",
            component_problems=_loss_set_problems,
        ),
        PluginKind(
            "dataset",
            "register_datasets",
            "reader(root: Path | None, modalities: list[str] | None = None, **options)",
            "a CaseCollection; the reader also counts the cases of its layout (pathogan_bench.contracts.dataset)",
            factory_problems=lambda reader: protocol_problems(reader, DatasetReader),
        ),
        PluginKind(
            "metric",
            "register_metrics",
            'factory(empty: str = "default") (a factory without the empty-mask option is called without it)',
            "a MaskMetric or MapMetric (pathogan_bench.contracts.metric)",
            component_problems=_metric_problems,
            component_facts=_metric_facts,
        ),
        PluginKind(
            "threshold-policy",
            "register_threshold_policies",
            "factory(argument: str) for NAME:ARGUMENT, factory() for NAME",
            "a ThresholdPolicy (pathogan_bench.contracts.threshold_policy)",
            component_problems=_policy_problems,
            component_facts=lambda policy: {
                **({"optimistic": "optimistic"} if policy.optimistic else {}),
                **({"calibration": "fitted on validation maps"} if policy.needs_calibration else {}),
            },
        ),
        PluginKind(
            "postprocess",
            "register_postprocess_steps",
            "factory(argument: str) for NAME:ARGUMENT, factory() for NAME",
            "a PostprocessStep (pathogan_bench.contracts.postprocess)",
            component_problems=_step_problems,
            component_facts=lambda step: {"stage": step.stage},
        ),
        PluginKind(
            "logger",
            "register_loggers",
            "factory()",
            "a RunLogger (pathogan_bench.contracts.logger)",
            component_problems=lambda logger: protocol_problems(logger, RunLogger),
        ),
    )
}
