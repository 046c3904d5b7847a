"""Loss sets resolved against the registry: a set's (term, weight) pairs after the run's overrides and removals, and
the weighted terms a model that uses loss sets receives."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..contracts.loss import WeightedTerm
from ..errors import UserError


def resolve_loss_set(
    registry: Any,
    name: str,
    overrides: Mapping[str, float] | None = None,
    without: Sequence[str] = (),
    user_sets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
) -> tuple[WeightedTerm, ...]:
    """Resolve a loss set into weighted loss terms created from the registry."""
    return create_terms(registry, loss_set_pairs(registry, name, overrides, without, user_sets))


def create_terms(registry: Any, pairs: Sequence[tuple[str, float]]) -> tuple[WeightedTerm, ...]:
    """The loss terms of resolved (term, weight) pairs, created from the registry."""
    return tuple(WeightedTerm(term, weight, registry.create("loss-term", term)) for term, weight in pairs)


def loss_set_pairs(
    registry: Any,
    name: str,
    overrides: Mapping[str, float] | None = None,
    without: Sequence[str] = (),
    user_sets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
) -> list[tuple[str, float]]:
    """The (term, weight) pairs of a loss set after overrides and removals."""
    user_sets = user_sets or {}
    if name in user_sets:
        pairs = [_pair(item, name) for item in user_sets[name]]
    else:
        pairs = [_pair(item, name) for item in registry.create("loss-set", name)]
    known = set(registry.names("loss-term"))
    weights = dict(pairs)
    order = [t for t, _ in pairs]
    for term, weight in (overrides or {}).items():
        if term not in weights:
            order.append(term)
        weights[term] = float(weight)
    for term in without:
        if term not in weights:
            raise UserError(f"--without {term}: loss set '{name}' has no term '{term}' (it has: {', '.join(order)})")
        order.remove(term)
        del weights[term]
    for term in order:
        if term not in known:
            registry.get("loss-term", term)  # raises with near matches
        if not math.isfinite(weights[term]) or weights[term] < 0:
            raise UserError(f"loss set '{name}': weight of '{term}' is {weights[term]}; expected a finite weight >= 0")
    return [(t, weights[t]) for t in order]


def _pair(item: Sequence[Any], set_name: str) -> tuple[str, float]:
    try:
        term, weight = item
        return str(term), float(weight)
    except (TypeError, ValueError):
        raise UserError(f"loss set '{set_name}': entries must be [term, weight] pairs, got {item!r}") from None
