"""Loss terms and loss sets.

A loss term reads one training step's forward pass, a :class:`TranslationStep`
(the contract between a translation model such as PathoGAN and its terms),
and returns an unweighted 0-d tensor. A loss set is a named, ordered list of
(loss-term name, weight); it is resolved against the registry into
:class:`WeightedTerm` objects. Users change it with weight overrides
(``--loss NAME=WEIGHT``, which also adds a term), removals (``--without
NAME``) and sets of their own defined in a config file's ``[loss_sets]`` table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from .errors import UserError


@dataclass
class TranslationStep:
    """Every named tensor of one training step's forward pass of a residual translation model (PathoGAN).

    This is the contract between such a model and its loss terms: a loss
    term is a callable ``term(step: TranslationStep) -> 0-d tensor``.

    Images are (B,C,H,W), label maps and their logits (B,1,H,W), encodings
    (B,z). ``*_logit`` is the label map's pre-sigmoid value r0 + eps.

    A -> B -> A, from a real healthy x_a:
        ``l_a, p_a, y_b``: G_A(x_a, delta_prior), delta_prior ~ N(0, I);
        ``cyc_l_b, cyc_p_b, rec_a``: G_B(y_b) (l~_B, p~_B, x~_A).
    B -> A -> B, from a real pathological x_b:
        ``l_b, p_b, y_a``: G_B(x_b);
        ``cyc_l_a, cyc_p_a, rec_b``: G_A(y_a, delta_b) (l~_A, p~_A, x~_B).
    Identity passes (eq. 14):
        ``idt_l_a``: label map of G_A(x_b, 0); ``idt_l_b``: of G_B(x_a).
    Encodings:
        ``mu_gamma, logvar_gamma, gamma_a``: Gamma_A(x_a), and the drawn gamma_A;
        ``mu_delta, logvar_delta, delta_b``: Delta_B(l_b * x_b), and the drawn delta_B.
    Discriminator scores (None when the loss set has no ``gan`` term):
        ``d_fake_a`` = D_A(y_a), ``d_fake_b`` = D_B(y_b).
    ``extras``: free room for experiments that add tensors.
    """

    x_a: torch.Tensor
    x_b: torch.Tensor
    l_a: torch.Tensor
    l_a_logit: torch.Tensor
    p_a: torch.Tensor
    y_b: torch.Tensor
    cyc_l_b: torch.Tensor
    cyc_l_b_logit: torch.Tensor
    cyc_p_b: torch.Tensor
    rec_a: torch.Tensor
    l_b: torch.Tensor
    l_b_logit: torch.Tensor
    p_b: torch.Tensor
    y_a: torch.Tensor
    cyc_l_a: torch.Tensor
    cyc_l_a_logit: torch.Tensor
    cyc_p_a: torch.Tensor
    rec_b: torch.Tensor
    idt_l_a: torch.Tensor
    idt_l_b: torch.Tensor
    mu_gamma: torch.Tensor
    logvar_gamma: torch.Tensor
    gamma_a: torch.Tensor
    mu_delta: torch.Tensor
    logvar_delta: torch.Tensor
    delta_b: torch.Tensor
    delta_prior: torch.Tensor
    d_fake_a: torch.Tensor | None = None
    d_fake_b: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def float(self) -> "TranslationStep":
        """The same step with every floating tensor in float32 (differentiable casts)."""
        changes = {f.name: getattr(self, f.name).float() for f in fields(self)
                   if isinstance(getattr(self, f.name), torch.Tensor) and getattr(self, f.name).is_floating_point()}
        return replace(self, **changes)


LossTerm = Callable[[TranslationStep], torch.Tensor]


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
