"""Loss sets: named, ordered lists of (loss-term name, weight).

A loss set is resolved against the registry into :class:`WeightedTerm`
objects; users change it with weight overrides (``--loss NAME=WEIGHT``, which
also adds a term), removals (``--without NAME``) and sets of their own defined
in a config file's ``[loss_sets]`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UserError


@dataclass(frozen=True)
class WeightedTerm:
    name: str
    weight: float
    term: Callable[[Any], Any]

    def __call__(self, step: Any) -> Any:
        return self.term(step)


def resolve_loss_set(
    registry: Any,
    name: str,
    overrides: Mapping[str, float] | None = None,
    without: Sequence[str] = (),
    user_sets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
) -> tuple[WeightedTerm, ...]:
    """Resolve a loss set into weighted loss terms created from the registry."""
    pairs = loss_set_pairs(registry, name, overrides, without, user_sets)
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
    return [(t, weights[t]) for t in order]


def _pair(item: Sequence[Any], set_name: str) -> tuple[str, float]:
    try:
        term, weight = item
        return str(term), float(weight)
    except (TypeError, ValueError):
        raise UserError(f"loss set '{set_name}': entries must be [term, weight] pairs, got {item!r}") from None


def parse_loss_override(text: str) -> tuple[str, float]:
    """Parse ``NAME=WEIGHT`` from the command line."""
    name, sep, weight = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"--loss {text}: expected NAME=WEIGHT, e.g. --loss relevancy=0.2")
    try:
        return name.strip(), float(weight)
    except ValueError:
        raise UserError(f"--loss {text}: weight '{weight}' is not a number") from None
