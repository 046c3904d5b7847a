"""Reading a dataset folder with a registered layout: by name, or ``auto``, the layout that finds the most cases in
the folder (every registered dataset counts its own; a plugin's layout takes part like the built-in ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ..contracts.dataset import DatasetReader
from ..data.cases import CaseCollection
from ..errors import UserError
from ..registry import Registry

#: the dataset name that detects a folder's layout
AUTO = "auto"
#: the dataset that generates data when no folder is given
SYNTHETIC = "synthetic"


def read_dataset(registry: Registry, name: str, root: Path | None, **options: Any) -> CaseCollection:
    """The cases of ``root`` read by the dataset ``name`` (``auto``: the detected layout; no folder: generated)."""
    if name == AUTO:
        name = detect_layout(registry, Path(root)) if root is not None else SYNTHETIC
    return cast(CaseCollection, registry.create("dataset", name, root, **options))


def detect_layout(registry: Registry, root: Path) -> str:
    """The registered layout with the most cases under ``root``; a tie between two is refused, naming both."""
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    # every registered reader meets the dataset contract (the registry leaves out those that do not)
    readers = {entry.name: cast(DatasetReader, entry.spec.factory) for entry in registry.entries("dataset")}
    counts = {name: reader.count_cases(root) for name, reader in readers.items()}
    ranked = sorted(counts, key=lambda name: -counts[name])
    if not ranked or counts[ranked[0]] == 0:
        others = ", ".join(name for name in sorted(counts) if not name.startswith("brats"))
        raise UserError(
            f"{root}: no BraTS-style NIfTI cases found, nor cases of another layout ({others}): an empty folder "
            "or an unknown naming scheme (see docs/DATA.md)"
        )
    if len(ranked) > 1 and counts[ranked[1]] == counts[ranked[0]]:
        raise UserError(
            f"{root}: the layouts {ranked[0]} and {ranked[1]} both find {counts[ranked[0]]} cases here; choose one "
            "with --dataset"
        )
    return ranked[0]
