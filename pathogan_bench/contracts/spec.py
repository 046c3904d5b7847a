"""A component as a plugin declares it: a registry name, a factory and a description."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """One component as a plugin declares it."""

    name: str
    factory: Callable[..., Any]
    description: str = ""

    @property
    def summary(self) -> str:
        if self.description:
            return self.description
        doc = inspect.getdoc(self.factory) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


def as_spec(item: Any) -> Spec | None:
    """What a ``register_*`` hook returned, as a :class:`Spec`: a Spec as it is, or a class or callable object that
    states its registry ``name`` (a :class:`~pathogan_bench.contracts.model.SegmentationModel` subclass, a
    dataset layout); None for anything else. The component's facts are its own typed attributes
    (pathogan_bench.contracts.kinds), never a Spec's."""
    if isinstance(item, Spec):
        return item
    name = getattr(item, "name", None)
    if callable(item) and isinstance(name, str) and name:
        return Spec(name, item)
    return None
