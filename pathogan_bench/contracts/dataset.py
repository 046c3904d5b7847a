"""The dataset contract: a reader of one folder layout, which also says how many cases it finds in a folder.

``reader(root, modalities=None, **options) -> CaseCollection`` reads the folder; ``reader.count_cases(root)``
counts the cases the layout finds there (0 when the folder is not in this layout) and is how ``--dataset auto``
chooses a layout: the reader finding the most cases reads the folder. A reader that should never be chosen
automatically (generated data, say) returns 0. :class:`pathogan_bench.data.layout.Layout` implements both from
one ``scan(root)`` method.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..data.cases import CaseCollection


@runtime_checkable
class DatasetReader(Protocol):
    """What a registered dataset provides."""

    def __call__(self, root: Path | None, modalities: list[str] | None = None, **options: Any) -> CaseCollection: ...

    def count_cases(self, root: Path) -> int:
        """How many cases this layout finds under ``root`` (0: not this layout; never raises for a readable
        folder)."""
        ...
