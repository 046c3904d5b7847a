"""Loss sets: named, weighted lists of loss terms, resolved against the registry.

A loss term reads one training step's forward pass of the model that uses
loss sets (``uses_loss_set``; the step's fields are that model's contract:
PathoGAN's ``TranslationStep``) and returns an unweighted 0-d tensor. A loss set is a named, ordered list of
(loss-term name, weight); it is resolved against the registry into
:class:`WeightedTerm` objects. Users change it with weight overrides
(``--loss NAME=WEIGHT``, which also adds a term), removals (``--without
NAME``) and sets of their own defined in a config file's ``[loss_sets]`` table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

#: a loss term: reads one training step's forward pass, as the model that uses loss sets defines it
#: (PathoGAN's ``TranslationStep``), and returns an unweighted 0-d tensor
LossTerm = Callable[[Any], torch.Tensor]


@dataclass(frozen=True)
class WeightedTerm:
    name: str
    weight: float
    term: Callable[[Any], Any]

    def __call__(self, step: Any) -> Any:
        return self.term(step)
