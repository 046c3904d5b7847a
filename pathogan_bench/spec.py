"""A component as a plugin declares it: a registry name, a factory and a description."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spec:
    """One component as a plugin declares it."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    #: extra facts a command may show, e.g. a model's supervision kind
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.description:
            return self.description
        doc = inspect.getdoc(self.factory) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


def as_spec(item: Any) -> Spec | None:
    """What a ``register_*`` hook returned, as a :class:`Spec`: a Spec as it is, or a class that states its
    registry ``name`` (a :class:`~pathogan_bench.model.SegmentationModel` subclass, say); None for anything else."""
    if isinstance(item, Spec):
        return item
    name = getattr(item, "name", None)
    if isinstance(item, type) and isinstance(name, str) and name:
        return Spec(name, item)
    return None
